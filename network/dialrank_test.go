package network

import (
	"fmt"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"
)

// Two replicas that each listen on TCP and QUIC, listing QUIC first,
// connect over TCP: the faster transport on loopback (see tcpFirst).
func TestDialPrefersTCP(t *testing.T) {
	c := &cluster{hosts: make([]*ReplicaHost, 2)}
	for i := range 2 {
		k := newKey(t)
		pid, err := PeerIDOf(k.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		addrs := []string{
			fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t, true)),
			fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t, false)),
		}
		c.keys = append(c.keys, k)
		c.listen = append(c.listen, addrs)
		c.peers = append(c.peers, Peer{ID: uint32(i), PeerID: pid, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(addrs[0]), multiaddr.StringCast(addrs[1])}})
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			if h != nil {
				_ = h.Close()
			}
		}
	})
	for i := range 2 {
		c.start(t, i)
	}
	c.hosts[0].Send(1, status(0, 1))
	receive(t, c.hosts[1].Inbound(), 10*time.Second)
	conns := c.hosts[0].host.Network().ConnsToPeer(c.peers[1].PeerID)
	if len(conns) == 0 {
		t.Fatal("no connection to replica 1 after a message reached it")
	}
	for _, conn := range conns {
		if !isTCP(conn.RemoteMultiaddr()) {
			t.Fatalf("connected to replica 1 over %s, want TCP", conn.RemoteMultiaddr())
		}
	}
}

// A peer's QUIC addresses are dialed only when it lists no TCP address.
func TestTCPFirstDialsQUICOnlyWithoutTCP(t *testing.T) {
	quic := multiaddr.StringCast("/ip4/10.0.0.1/udp/9000/quic-v1")
	tcp := multiaddr.StringCast("/ip4/10.0.0.1/tcp/9000")
	if got := tcpFirst([]multiaddr.Multiaddr{quic, tcp}); len(got) != 1 || !got[0].Addr.Equal(tcp) {
		t.Fatalf("ranked %v for a peer on QUIC and TCP, want its TCP address alone", got)
	}
	if got := tcpFirst([]multiaddr.Multiaddr{quic}); len(got) != 1 || !got[0].Addr.Equal(quic) || got[0].Delay != 0 {
		t.Fatalf("ranked %v for a peer on QUIC only, want its QUIC address at once", got)
	}
}
