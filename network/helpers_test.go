package network

import (
	"context"
	"fmt"
	"github.com/bulwark-bft/bulwark/pbft"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func newKey(t *testing.T) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// freePort finds a loopback port free for TCP or UDP. Racy in principle,
// fine in practice: the OS hands out ephemeral ports round-robin.
func freePort(t *testing.T, udp bool) int {
	t.Helper()
	if udp {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster is n replica configurations on loopback and the hosts running them.
type cluster struct {
	keys   []*crypto.PrivateKey
	peers  []Peer
	listen [][]string
	hosts  []*ReplicaHost
	tweak  func(*Config)
}

func newCluster(t *testing.T, n int, quic bool, tweak func(*Config)) *cluster {
	t.Helper()
	c := &cluster{tweak: tweak, hosts: make([]*ReplicaHost, n)}
	for i := range n {
		k := newKey(t)
		pid, err := PeerIDOf(k.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		var addr string
		if quic {
			addr = fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t, true))
		} else {
			addr = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t, false))
		}
		c.keys = append(c.keys, k)
		c.listen = append(c.listen, []string{addr})
		c.peers = append(c.peers, Peer{ID: uint32(i), PeerID: pid, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(addr)}})
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			if h != nil {
				_ = h.Close()
			}
		}
	})
	for i := range n {
		c.start(t, i)
	}
	return c
}

func (c *cluster) config(i int) Config {
	cfg := Config{Key: c.keys[i], ListenAddrs: c.listen[i], Self: uint32(i), Replicas: c.peers, Logger: quietLog}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *cluster) start(t *testing.T, i int) *ReplicaHost {
	t.Helper()
	h, err := NewReplicaHost(context.Background(), c.config(i))
	if err != nil {
		t.Fatalf("replica %d: %v", i, err)
	}
	c.hosts[i] = h
	return h
}

func (c *cluster) stop(t *testing.T, i int) {
	t.Helper()
	if err := c.hosts[i].Close(); err != nil {
		t.Fatalf("close replica %d: %v", i, err)
	}
}

func status(from uint32, view uint64) *wire.Message {
	return &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{Replica: from, View: view}}}
}

// receive waits for a message on in, failing the test after d.
func receive(t *testing.T, in <-chan pbft.Inbound, d time.Duration) pbft.Inbound {
	t.Helper()
	select {
	case m, ok := <-in:
		if !ok {
			t.Fatal("inbound closed")
		}
		m.Done() // the test is the consumer: its budget goes back
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	panic("unreachable")
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustPub(t *testing.T, id peer.ID) p2pcrypto.PubKey {
	t.Helper()
	pk, err := id.ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pk
}
