package testnet

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsAreFreeAndBelowTheEphemeralRange(t *testing.T) {
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := belowEphemeral()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if hi-lo > 1000 && (p < lo || p >= hi) {
			t.Errorf("port %d not in [%d, %d), below the ephemeral range", p, lo, hi)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free for TCP: %v", p, err)
		}
		l.Close()
	}
}
