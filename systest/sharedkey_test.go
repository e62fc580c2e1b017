package systest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Two `bulwark client` processes using one key file at once, round after
// round: each must complete its own put (not be answered with the other's
// reply for a colliding session) and the cluster must hold both values.
// With session ids that started at 0 in every process, the second put of a
// round was taken for a retransmission of the first.
func testProcessSharedClientKey(t *testing.T, bin string) {
	pc := startProcCluster(t, bin, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	key := filepath.Join(t.TempDir(), "client.key")
	if _, err := pc.bulwark(ctx, "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	pc.clientOp(ctx, "ok", "put", "warm", "up") // the replicas are up
	const rounds = 6
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for p := range 2 {
			wg.Go(func() {
				out, err := pc.bulwark(ctx, "client", "--cluster", pc.path, "--key", key, "--timeout", "20s",
					"put", fmt.Sprintf("shared-%d-%d", r, p), fmt.Sprintf("v%d%d", r, p))
				if err == nil && out != "ok\n" {
					err = fmt.Errorf("printed %q, want ok", out)
				}
				errs[p] = err
			})
		}
		wg.Wait()
		for p, err := range errs {
			if err != nil {
				t.Fatalf("round %d, process %d: %v", r, p, err)
			}
		}
	}
	for r := range rounds {
		for p := range 2 {
			pc.clientOp(ctx, fmt.Sprintf("v%d%d", r, p), "get", fmt.Sprintf("shared-%d-%d", r, p))
		}
	}
}
