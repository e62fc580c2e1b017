package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
)

// Every client result stays correct with one replica misbehaving on purpose:
// a backup that lies in its replies, and a primary that equivocates (which
// takes a view change).
func TestFaultyReplicas(t *testing.T) {
	for _, tc := range []struct {
		fault string
		id    int
	}{
		{"wrong-result", 1},
		{"equivocate", 0},
		{"bad-signature", 2},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			path, ctx, _ := startReplicas(t, map[int][]string{tc.id: {"--fault", tc.fault}})
			for i := range 5 {
				v := fmt.Sprintf("v%d", i)
				for _, step := range []struct {
					args []string
					want string
				}{
					{[]string{"put", "k", v}, "ok\n"},
					{[]string{"get", "k"}, v + "\n"},
				} {
					out, err := run(ctx, append([]string{"client", "--cluster", path, "--timeout", "30s"}, step.args...)...)
					if err != nil || out != step.want {
						t.Fatalf("client %v with replica %d %s: %q, %v; want %q", step.args, tc.id, tc.fault, out, err, step.want)
					}
				}
			}
		})
	}
}

func TestFaultNames(t *testing.T) {
	dir := t.TempDir()
	path, err := writeTestnet(dir, "127.0.0.1", []int{1, 2, 3, 4}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(t.Context(), "replica", "--cluster", path, "--id", "0", "--fault", "sneaky")
	if err == nil || !strings.Contains(err.Error(), "--fault") {
		t.Fatalf("an unknown fault: %v, want an error naming --fault", err)
	}
}
