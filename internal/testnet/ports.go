package testnet

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
)

// FreePorts finds n ports on 127.0.0.1 that are free for both TCP and UDP
// (replicas listen on TCP and QUIC on the same port number). The ports are
// released before returning, so another process could still take one
// before the replica binds it (a replica then refuses to start, rather than
// run on QUIC alone). To make that rare they come from below the kernel's
// ephemeral range where it has room: a port bind(0) hands out is one the
// kernel also gives outgoing connections as their source port, and with
// replicas and clients dialing while others start, one such connection
// took a replica's TCP port before the replica bound it.
func FreePorts(n int) ([]int, error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	lo, hi := belowEphemeral()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 20*n {
			return nil, errors.New("free ports: none free for both TCP and UDP")
		}
		want := 0 // the kernel's choice
		if hi-lo > 1000 && tries < 10*n {
			want = lo + rand.IntN(hi-lo)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", want))
		if err != nil {
			if want != 0 {
				continue // taken
			}
			return nil, fmt.Errorf("free ports: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		held = append(held, u)
		ports = append(ports, port)
	}
	return ports, nil
}

// belowEphemeral is a port range [lo, hi) under the kernel's ephemeral
// ports (Linux), or an empty one where that range is unknown.
func belowEphemeral() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil {
		return 0, 0
	}
	return 10000, first
}
