package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/node"
)

func TestTestnetHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	hosts := []string{"10.1.0.10", "10.1.0.11", "10.1.0.12", "10.1.0.13"}
	if _, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", dir, "--base-port", "7000",
		"--host", "127.0.0.1", "--hosts", strings.Join(hosts, ", ")); err != nil {
		t.Fatal(err)
	}
	c, err := node.Load(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		want := []string{fmt.Sprintf("/ip4/%s/tcp/%d", h, 7000+i), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", h, 7000+i)}
		if got := c.File.Replicas[i].Addrs; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("replica %d addrs %v, want %v", i, got, want)
		}
	}
	for _, bad := range []struct{ hosts, want string }{
		{"10.0.0.1,10.0.0.2,10.0.0.3", "--hosts: 3 addresses for 4 replicas"},
		{"10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5", "--hosts: 5 addresses for 4 replicas"},
		{"10.0.0.1,10.0.0.2,::1,10.0.0.4", `--hosts: entry 2, "::1", is not an IPv4 address`},
		{"10.0.0.1,,10.0.0.3,10.0.0.4", `--hosts: entry 1, "", is not an IPv4 address`},
		{"10.0.0.1,10.0.0.2,10.0.0.3,example.org", `--hosts: entry 3, "example.org", is not an IPv4 address`},
	} {
		_, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", t.TempDir(), "--hosts", bad.hosts)
		if err == nil || !strings.HasPrefix(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--hosts %s: error %v, want one line starting %q", bad.hosts, err, bad.want)
		}
	}
	if _, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", t.TempDir(), "--host", "::1"); err == nil ||
		!strings.HasPrefix(err.Error(), "--host: ") {
		t.Errorf("--host ::1: error %v", err)
	}
}
