package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/multiformats/go-multiaddr"
)

// A replica whose TCP port another socket holds must not start on QUIC
// alone: libp2p would, and no client could reach it (clients dial TCP).
func TestReplicaHostRefusesToRunHalfListening(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	k := newKey(t)
	pid, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)}
	peers := []Peer{{ID: 0, PeerID: pid, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(addrs[0]), multiaddr.StringCast(addrs[1])}}}
	h, err := NewReplicaHost(context.Background(), Config{Key: k, ListenAddrs: addrs, Self: 0, Replicas: peers, Logger: quietLog})
	if err == nil {
		_ = h.Close()
		t.Fatalf("started with TCP port %d taken (listening on %v)", port, h.Addrs())
	}
	if !errors.Is(err, ErrNotListening) {
		t.Fatalf("error %v, want ErrNotListening", err)
	}
}

func TestSameListenAddr(t *testing.T) {
	for _, tc := range []struct {
		want, have string
		same       bool
	}{
		{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/4001", true},
		{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/4001", true},
		{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/udp/4001/quic-v1", true},
		{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/4002", false},
		{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1", false},
		{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/udp/4001", false},
		{"/ip4/0.0.0.0/tcp/0", "/ip4/127.0.0.1/tcp/4001", false},
	} {
		if got := sameListenAddr(multiaddr.StringCast(tc.want), multiaddr.StringCast(tc.have)); got != tc.same {
			t.Errorf("sameListenAddr(%s, %s) = %v, want %v", tc.want, tc.have, got, tc.same)
		}
	}
}
