package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// FreePorts finds n ports on 127.0.0.1 that are free for both TCP and UDP
// (replicas listen on TCP and QUIC on the same port number). The ports are
// released before returning, so another process could still take one; on
// loopback in a test or demo that race is remote.
func FreePorts(n int) ([]int, error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 20*n {
			return nil, errors.New("free ports: none free for both TCP and UDP")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
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
