package network

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func TestPeerIDOfMatchesHostIdentity(t *testing.T) {
	k := newKey(t)
	sk, err := libp2pKey(k)
	if err != nil {
		t.Fatal(err)
	}
	want, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ed25519KeyOf(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(pub) != string(k.PublicKey()) {
		t.Fatal("key extracted from peer id differs from the public key")
	}
	if !sk.GetPublic().Equals(mustPub(t, want)) {
		t.Fatal("libp2p key and PeerIDOf disagree")
	}
	if _, err := PeerIDOf([]byte{1, 2, 3}); err == nil {
		t.Fatal("PeerIDOf accepted a 3-byte key")
	}
}

func TestReplicasExchange(t *testing.T) {
	for _, tc := range []struct {
		name string
		quic bool
	}{{"tcp", false}, {"quic", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			c := newCluster(t, n, tc.quic, nil)
			for i := range n {
				for j := range n {
					if i != j {
						c.hosts[i].Send(uint32(j), status(uint32(i), uint64(100*i+j)))
					}
				}
			}
			for j := range n {
				seen := map[int]bool{}
				for range n - 1 {
					in := receive(t, c.hosts[j].Inbound(), 10*time.Second)
					st := in.Msg.GetStatus()
					if st == nil || in.From != pbft.FromReplica(st.GetReplica()) || st.GetView() != uint64(100*int(st.GetReplica())+j) {
						t.Fatalf("replica %d got %+v from %+v", j, st, in.From)
					}
					seen[in.From.Replica] = true
				}
				if len(seen) != n-1 {
					t.Fatalf("replica %d heard from %v", j, seen)
				}
			}
			eventually(t, 5*time.Second, "full mesh", func() bool {
				for _, h := range c.hosts {
					if len(h.Stats().Connected) != n-1 {
						return false
					}
				}
				return true
			})
			if s := c.hosts[0].Stats(); s.Sent != n-1 || s.Received != n-1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestStrangerCannotSpeakReplicaProtocol(t *testing.T) {
	c := newCluster(t, 4, false, nil)
	// The outsider believes it is replica 4 of a five-replica cluster; the
	// real replicas' cluster files do not list it.
	k := newKey(t)
	pid, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t, false))
	peers := append(append([]Peer(nil), c.peers...), Peer{ID: 4, PeerID: pid, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(addr)}})
	outsider, err := NewReplicaHost(context.Background(), Config{Key: k, ListenAddrs: []string{addr}, Self: 4, Replicas: peers, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer outsider.Close()

	eventually(t, 10*time.Second, "unknown_peer drop", func() bool {
		outsider.Send(0, status(4, 1))
		return c.hosts[0].Stats().Dropped[DropUnknownPeer] > 0
	})
	select {
	case in := <-c.hosts[0].Inbound():
		t.Fatalf("stranger's message delivered: %+v", in)
	case <-time.After(300 * time.Millisecond):
	}
	// The outsider's link never stays up.
	for _, id := range c.hosts[0].Stats().Connected {
		if id == 4 {
			t.Fatal("replica 0 lists the outsider as connected")
		}
	}
}

// rawStream opens a replica-protocol stream from h to replica 0 of c, to
// write bytes the transport itself would never produce.
func rawStream(t *testing.T, h *ReplicaHost, c *cluster) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.host.NewStream(ctx, c.peers[0].PeerID, ReplicaProtocol)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expectReset waits until the remote end resets s.
func expectReset(t *testing.T, s network.Stream) {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := s.Read(b[:]); err == nil {
		t.Fatal("stream still open after bad frame")
	}
	_ = s.Reset()
}

func TestBadFramesDroppedThenValidArrive(t *testing.T) {
	const maxFrame = 1024
	c := newCluster(t, 2, false, func(cfg *Config) { cfg.MaxFrameSize = maxFrame })
	r0, r1 := c.hosts[0], c.hosts[1]

	// Oversized: only the header is needed; the receiver must not wait for
	// (or allocate) the body.
	s := rawStream(t, r1, c)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
	if _, err := s.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	expectReset(t, s)
	eventually(t, 5*time.Second, "frame_too_large count", func() bool { return r0.Stats().Dropped[DropFrameTooLarge] == 1 })

	// Garbage body of a legal length.
	s = rawStream(t, r1, c)
	garbage := []byte{0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if _, err := s.Write(garbage); err != nil {
		t.Fatal(err)
	}
	expectReset(t, s)
	eventually(t, 5*time.Second, "malformed count", func() bool { return r0.Stats().Dropped[DropMalformed] == 1 })

	// A fresh stream from the same peer is still served.
	s = rawStream(t, r1, c)
	frame, err := encodeFrame(status(1, 7), maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	in := receive(t, r0.Inbound(), 5*time.Second)
	if in.From != pbft.FromReplica(1) || in.Msg.GetStatus().GetView() != 7 {
		t.Fatalf("got %+v", in)
	}
	_ = s.Close()

	// And so is the transport's own link.
	r1.Send(0, status(1, 8))
	in = receive(t, r0.Inbound(), 5*time.Second)
	if in.Msg.GetStatus().GetView() != 8 {
		t.Fatalf("got %+v", in)
	}

	// An outbound message over the limit is refused at Send.
	big := &wire.Message{Content: &wire.Message_StateChunk{StateChunk: &wire.StateChunk{Data: make([]byte, maxFrame)}}}
	r1.Send(0, big)
	if got := r1.Stats().Dropped[DropFrameTooLarge]; got != 1 {
		t.Fatalf("sender counted %d oversized, want 1", got)
	}
}

func TestStoppedPeerDoesNotBlockSend(t *testing.T) {
	const queue = 8
	c := newCluster(t, 2, false, func(cfg *Config) { cfg.QueueSize = queue })
	c.stop(t, 1)
	r0 := c.hosts[0]
	const sends = 1000
	start := time.Now()
	for i := range sends {
		r0.Send(1, status(0, uint64(i)))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("%d sends to a stopped peer took %v", sends, d)
	}
	// At most the queue plus the one frame a writer may hold survive.
	if got := r0.Stats().Dropped[DropQueueFull]; got < sends-queue-1 {
		t.Fatalf("queue_full drops %d, want ≥ %d", got, sends-queue-1)
	}
}

func TestRestartedPeerIsReconnected(t *testing.T) {
	c := newCluster(t, 2, false, nil)
	r0 := c.hosts[0]
	r0.Send(1, status(0, 1))
	if in := receive(t, c.hosts[1].Inbound(), 10*time.Second); in.Msg.GetStatus().GetView() != 1 {
		t.Fatalf("got %+v", in)
	}
	c.stop(t, 1)
	eventually(t, 5*time.Second, "link down", func() bool { return len(r0.Stats().Connected) == 0 })

	r1 := c.start(t, 1) // same key, same address
	view := uint64(100)
	eventually(t, 20*time.Second, "delivery after restart", func() bool {
		view++
		r0.Send(1, status(0, view))
		select {
		case in := <-r1.Inbound():
			return in.From == pbft.FromReplica(0)
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	// And the restarted side reaches the survivor too.
	r1.Send(0, status(1, 5))
	for {
		in := receive(t, r0.Inbound(), 10*time.Second)
		if in.From == pbft.FromReplica(1) && in.Msg.GetStatus().GetView() == 5 {
			break
		}
	}
}

func TestClientRequestAndReply(t *testing.T) {
	const n = 4
	c := newCluster(t, n, false, nil)
	ck := newKey(t)
	cl, err := NewClientHost(context.Background(), ck, c.peers, WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	req := &wire.Message{Content: &wire.Message_Request{Request: &wire.Request{ClientKey: ck.PublicKey(), Timestamp: 1, Operation: []byte("op")}}}
	for id := range n {
		cl.Send(uint32(id), req)
	}
	for id, h := range c.hosts {
		in := receive(t, h.Inbound(), 10*time.Second)
		if in.From != pbft.FromClient(ck.PublicKey()) || string(in.Msg.GetRequest().GetOperation()) != "op" {
			t.Fatalf("replica %d got %+v", id, in)
		}
		h.SendClient(in.From.Client, &wire.Message{Content: &wire.Message_Reply{Reply: &wire.Reply{Replica: uint32(id), Timestamp: 1, Result: []byte("ok")}}})
	}
	seen := map[int]bool{}
	for range n {
		in := receive(t, cl.Inbound(), 10*time.Second)
		rep := in.Msg.GetReply()
		if rep == nil || in.From != pbft.FromReplica(rep.GetReplica()) || string(rep.GetResult()) != "ok" {
			t.Fatalf("client got %+v", in)
		}
		seen[in.From.Replica] = true
	}
	if len(seen) != n {
		t.Fatalf("replies from %v", seen)
	}

	// A reply for a client with no stream is dropped and counted.
	c.hosts[0].SendClient(string(newKey(t).PublicKey()), status(0, 1))
	if got := c.hosts[0].Stats().Dropped[DropNoClientStream]; got != 1 {
		t.Fatalf("no_client_stream drops %d, want 1", got)
	}
	if s := c.hosts[0].Stats(); s.ClientStreams != 1 {
		t.Fatalf("client streams %d, want 1", s.ClientStreams)
	}
}

func TestCloseClosesInbound(t *testing.T) {
	c := newCluster(t, 2, false, nil)
	c.stop(t, 0)
	if _, ok := <-c.hosts[0].Inbound(); ok {
		t.Fatal("inbound not closed")
	}
	// Send after Close must not panic or block.
	c.hosts[0].Send(1, status(0, 1))
	if err := c.hosts[0].Close(); err != nil {
		t.Fatal(err)
	}
	var _ pbft.Transport = c.hosts[0]
}

// A broadcast encodes its message once: the replicas' queues share the frame.
func TestBroadcastEncodesOnce(t *testing.T) {
	const n = 4
	c := newCluster(t, n, false, nil)
	m := status(0, 7)
	for j := 1; j < n; j++ {
		c.hosts[0].Send(uint32(j), m)
	}
	for j := 1; j < n; j++ {
		if in := receive(t, c.hosts[j].Inbound(), 10*time.Second); in.Msg.GetStatus().GetView() != 7 {
			t.Fatalf("replica %d got %v", j, in.Msg)
		}
	}
	c.hosts[0].Send(1, status(0, 8)) // another message is encoded anew
	if in := receive(t, c.hosts[1].Inbound(), 10*time.Second); in.Msg.GetStatus().GetView() != 8 {
		t.Fatalf("replica 1 got %v", in.Msg)
	}
	c.hosts[0].encMu.Lock()
	defer c.hosts[0].encMu.Unlock()
	if got := c.hosts[0].encodes; got != 2 {
		t.Fatalf("%d frames encoded for one broadcast and one message, want 2", got)
	}
}

// Frames queued behind one another are joined into one write; the reader
// must still see every message, whole and in order.
func TestQueuedFramesArriveWholeAndInOrder(t *testing.T) {
	c := newCluster(t, 4, false, nil)
	const count = 600
	for i := range count {
		c.hosts[0].Send(1, status(0, uint64(i)))
	}
	for i := range count {
		in := receive(t, c.hosts[1].Inbound(), 10*time.Second)
		if got := in.Msg.GetStatus().GetView(); got != uint64(i) {
			t.Fatalf("message %d carries view %d", i, got)
		}
	}
	if s := c.hosts[0].Stats(); s.Sent < count {
		t.Fatalf("stats count %d frames sent, want at least %d", s.Sent, count)
	}
}
