package network

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// sizedFrame is a valid frame whose body is exactly n bytes (n ≥ 8).
func sizedFrame(t *testing.T, n int) []byte {
	t.Helper()
	for k := n; k >= 0; k-- {
		m := &wire.Message{Content: &wire.Message_StateChunk{StateChunk: &wire.StateChunk{Data: make([]byte, k), Replica: 1}}}
		if proto.Size(m) == n {
			frame, err := encodeFrame(m, n)
			if err != nil {
				t.Fatal(err)
			}
			return frame
		}
	}
	t.Fatalf("no message of %d bytes", n)
	return nil
}

// stall writes the header of an n-byte frame and the first sent bytes of
// its body, and then nothing: a slowloris.
func stall(t *testing.T, s network.Stream, n, sent int) {
	t.Helper()
	buf := binary.BigEndian.AppendUint32(nil, uint32(n))
	buf = append(buf, make([]byte, sent)...)
	if _, err := s.Write(buf); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, s network.Stream, b []byte) {
	t.Helper()
	if _, err := s.Write(b); err != nil {
		t.Fatal(err)
	}
}

// streamTo opens a stream on proto from h to target.
func streamTo(t *testing.T, h host.Host, target Peer, proto protocol.ID) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.Peerstore().AddAddrs(target.PeerID, target.Addrs, time.Hour)
	s, err := h.NewStream(ctx, target.PeerID, proto)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawClient is a bare libp2p host with a fresh ed25519 key: a client that
// writes whatever bytes a test wants.
func rawClient(t *testing.T) host.Host {
	t.Helper()
	sk, _, err := p2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rawHostWithKey(t, sk)
}

func rawHostWithKey(t *testing.T, sk p2pcrypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// stallTimings: waits for budget end fast; a stalled body lives long enough
// for the rest of a test to run against it.
var stallTimings = timings{budgetWait: 300 * time.Millisecond, bodyGrace: 5 * time.Second, bodyRate: 1 << 40}

func budgetOf(h *ReplicaHost) FrameBudgetStats { return h.Stats().FrameBudget }

// Frames from replicas: what one replica's stalled frames hold is bounded by
// its share, what all hold by the pool; a stalled body loses its stream and
// its budget at its deadline.
func TestStalledReplicaFramesAreBoundedAndReset(t *testing.T) {
	const (
		share = 64 << 10
		pool  = 100 << 10
	)
	c := newCluster(t, 4, false, func(cfg *Config) {
		cfg.MaxFrameSize, cfg.ReplicaFrameBudget, cfg.timings = share, pool, stallTimings
	})
	r0 := c.hosts[0]
	target := c.peers[0]
	if b := budgetOf(r0); b.ReplicaLimit != pool || b.ReplicaBytes != 0 {
		t.Fatalf("budget %+v at start", b)
	}

	// Replica 1 announces 60 KiB and stalls: it holds 60 KiB.
	s1 := streamTo(t, c.hosts[1].host, target, ReplicaProtocol)
	stall(t, s1, 60<<10, 1<<10)
	eventually(t, 5*time.Second, "60 KiB held", func() bool { return budgetOf(r0).ReplicaBytes == 60<<10 })

	// Its next frame, whole, on another stream: 70 KiB is beyond its share
	// (though within the pool), so it is refused after the wait.
	s1b := streamTo(t, c.hosts[1].host, target, ReplicaProtocol)
	write(t, s1b, sizedFrame(t, 10<<10))
	expectReset(t, s1b)
	if got := r0.Stats().Dropped[DropFrameBudget]; got != 1 {
		t.Fatalf("frame_budget drops %d after a peer exceeded its share, want 1", got)
	}

	// Replica 2 stalls too: 95 KiB of the pool held.
	s2 := streamTo(t, c.hosts[2].host, target, ReplicaProtocol)
	stall(t, s2, 35<<10, 1<<10)
	eventually(t, 5*time.Second, "95 KiB held", func() bool { return budgetOf(r0).ReplicaBytes == 95<<10 })

	// Replica 3 holds nothing, but 10 KiB more is beyond the pool.
	s3 := streamTo(t, c.hosts[3].host, target, ReplicaProtocol)
	write(t, s3, sizedFrame(t, 10<<10))
	expectReset(t, s3)
	if got := r0.Stats().Dropped[DropFrameBudget]; got != 2 {
		t.Fatalf("frame_budget drops %d after the pool was exceeded, want 2", got)
	}
	// What is left of the pool is still served.
	s3 = streamTo(t, c.hosts[3].host, target, ReplicaProtocol)
	write(t, s3, sizedFrame(t, 4<<10))
	if in := receive(t, r0.Inbound(), 5*time.Second); in.From != pbft.FromReplica(3) {
		t.Fatalf("got %+v", in)
	}

	// The stalled bodies run out of time: streams reset, budget back.
	expectReset(t, s1)
	expectReset(t, s2)
	eventually(t, 5*time.Second, "stalls counted", func() bool { return r0.Stats().Dropped[DropFrameStalled] == 2 })
	eventually(t, 5*time.Second, "budget released", func() bool {
		b := budgetOf(r0)
		return b.ReplicaBytes == 0 && b.Peers == 0
	})
	_ = s3.Close()
}

// A frame that waits for budget is served once budget frees, within the
// wait: a burst of large frames is ridden out, not dropped.
func TestFrameWaitingForBudgetIsServedWhenItFrees(t *testing.T) {
	const share = 64 << 10
	c := newCluster(t, 2, false, func(cfg *Config) {
		cfg.MaxFrameSize, cfg.ReplicaFrameBudget = share, share
		cfg.timings = timings{budgetWait: 10 * time.Second, bodyGrace: 10 * time.Second, bodyRate: 1 << 40}
	})
	r0 := c.hosts[0]
	s1 := streamTo(t, c.hosts[1].host, c.peers[0], ReplicaProtocol)
	stall(t, s1, 60<<10, 1<<10)
	eventually(t, 5*time.Second, "60 KiB held", func() bool { return budgetOf(r0).ReplicaBytes == 60<<10 })
	s2 := streamTo(t, c.hosts[1].host, c.peers[0], ReplicaProtocol)
	write(t, s2, sizedFrame(t, 10<<10))
	eventually(t, 5*time.Second, "the frame to wait", func() bool { return budgetOf(r0).Waits == 1 })
	_ = s1.Reset() // the stalled frame's sender gives up: its 60 KiB come back
	if in := receive(t, r0.Inbound(), 5*time.Second); in.From != pbft.FromReplica(1) {
		t.Fatalf("got %+v", in)
	}
	if got := r0.Stats().Dropped[DropFrameBudget]; got != 0 {
		t.Fatalf("frame_budget drops %d, want 0", got)
	}
	// Delivered frames give their budget back.
	eventually(t, 5*time.Second, "budget released", func() bool { return budgetOf(r0).ReplicaBytes == 0 })
	_ = s2.Close()
}

// Frames from clients are bounded below replica frames and draw on their
// own pool: clients holding all of theirs do not slow a replica's frames.
func TestClientFramesBoundedSeparately(t *testing.T) {
	const (
		clientMax  = 16 << 10
		clientPool = 20 << 10
	)
	c := newCluster(t, 2, false, func(cfg *Config) {
		cfg.MaxFrameSize, cfg.ReplicaFrameBudget = 64<<10, 64<<10
		cfg.MaxClientFrameSize, cfg.ClientFrameBudget, cfg.timings = clientMax, clientPool, stallTimings
	})
	r0 := c.hosts[0]
	target := c.peers[0]
	if b := budgetOf(r0); b.ClientLimit != clientPool || b.ReplicaLimit != 64<<10 {
		t.Fatalf("budget %+v", b)
	}

	// Above the client frame limit: refused at its header, though a
	// replica may send frames that large.
	tooBig := streamTo(t, rawClient(t), target, ClientProtocol)
	stall(t, tooBig, clientMax+1, 0)
	expectReset(t, tooBig)
	if got := r0.Stats().Dropped[DropFrameTooLarge]; got != 1 {
		t.Fatalf("frame_too_large drops %d, want 1", got)
	}

	// Client A stalls a largest frame (read into a growing buffer), client
	// B a small one (read in place): 19 KiB of 20 held.
	a := rawClient(t)
	sa := streamTo(t, a, target, ClientProtocol)
	stall(t, sa, clientMax, 100)
	sb := streamTo(t, rawClient(t), target, ClientProtocol)
	stall(t, sb, 3<<10, 100)
	eventually(t, 5*time.Second, "19 KiB held", func() bool { return budgetOf(r0).ClientBytes == 19<<10 })

	// A's second stream is beyond its share, client C beyond the pool.
	sa2 := streamTo(t, a, target, ClientProtocol)
	write(t, sa2, sizedFrame(t, 1<<10))
	expectReset(t, sa2)
	sc := streamTo(t, rawClient(t), target, ClientProtocol)
	write(t, sc, sizedFrame(t, 2<<10))
	expectReset(t, sc)
	if got := r0.Stats().Dropped[DropFrameBudget]; got != 2 {
		t.Fatalf("frame_budget drops %d, want 2", got)
	}

	// Meanwhile a replica's frame, larger than any client may send and
	// than what one pool for all would have left, is delivered at once:
	// the replicas' pool is untouched.
	waits := budgetOf(r0).Waits
	s1 := streamTo(t, c.hosts[1].host, target, ReplicaProtocol)
	write(t, s1, sizedFrame(t, 50<<10))
	if in := receive(t, r0.Inbound(), 5*time.Second); in.From != pbft.FromReplica(1) {
		t.Fatalf("got %+v", in)
	}
	if b := budgetOf(r0); b.Waits != waits {
		t.Fatalf("a replica frame waited for budget while clients held their pool: %+v", b)
	}

	expectReset(t, sa)
	expectReset(t, sb)
	eventually(t, 5*time.Second, "stalls counted", func() bool { return r0.Stats().Dropped[DropFrameStalled] == 2 })
	eventually(t, 5*time.Second, "budget released", func() bool {
		b := budgetOf(r0)
		return b.ClientBytes == 0 && b.ReplicaBytes == 0 && b.Peers == 0
	})
	_ = s1.Close()
}

func withTimings(tm timings) ClientOption { return func(o *clientOptions) { o.timings = tm } }

// A client host reads replies against its own budget: a faulty replica that
// announces a reply and stalls holds at most that, and only until its
// deadline.
func TestStalledReplyIsBoundedAndReset(t *testing.T) {
	// The "replica" is a bare host the client's replica list names: it
	// answers every client stream with a stalled 60 KiB frame.
	rk := newKey(t)
	sk, err := libp2pKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	rpid, err := PeerIDOf(rk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	fake, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.SetStreamHandler(ClientProtocol, func(s network.Stream) {
		buf := binary.BigEndian.AppendUint32(nil, 60<<10)
		_, _ = s.Write(append(buf, make([]byte, 1<<10)...))
		// Hold the stream open, writing nothing more, until the client
		// gives up on it.
		_, _ = io.Copy(io.Discard, s)
		_ = s.Reset()
	})

	const maxFrame = 64 << 10
	cl, err := NewClientHost(context.Background(), newKey(t), []Peer{{ID: 0, PeerID: rpid, Addrs: fake.Addrs()}},
		WithLogger(quietLog), WithMaxFrameSize(maxFrame), WithFrameBudget(maxFrame), withTimings(stallTimings))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if b := cl.Stats().FrameBudget; b.ReplicaLimit != maxFrame || b.ClientLimit != 0 {
		t.Fatalf("client budget %+v", b)
	}
	eventually(t, 10*time.Second, "60 KiB held", func() bool { return cl.Stats().FrameBudget.ReplicaBytes == 60<<10 })
	eventually(t, 10*time.Second, "the stall counted", func() bool { return cl.Stats().Dropped[DropFrameStalled] >= 1 })
	// The link reconnects and the fake stalls again; in between, nothing
	// may be held beyond one frame.
	if b := cl.Stats().FrameBudget; b.ReplicaBytes > 60<<10 {
		t.Fatalf("client holds %+v", b)
	}
}

// A client refuses at Send a request larger than replicas accept from
// clients, instead of sending it only for the stream to be reset.
func TestClientRefusesOversizedRequestAtSend(t *testing.T) {
	c := newCluster(t, 1, false, nil)
	k := newKey(t)
	cl, err := NewClientHost(context.Background(), k, c.peers, WithLogger(quietLog), WithMaxClientFrameSize(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	big := &wire.Message{Content: &wire.Message_Request{Request: &wire.Request{ClientKey: k.PublicKey(), Timestamp: 1, Operation: make([]byte, 1<<10)}}}
	cl.Send(0, big)
	if got := cl.Stats().Dropped[DropFrameTooLarge]; got != 1 {
		t.Fatalf("frame_too_large drops %d, want 1", got)
	}
	cl.Send(0, request(k, 2))
	if in := receive(t, c.hosts[0].Inbound(), 10*time.Second); in.Msg.GetRequest().GetTimestamp() != 2 {
		t.Fatalf("got %+v", in)
	}
	if _, err := NewClientHost(context.Background(), k, c.peers, WithMaxFrameSize(1<<10), WithMaxClientFrameSize(2<<10)); err == nil {
		t.Fatal("a client frame limit above the max frame size was accepted")
	}
	if _, err := NewClientHost(context.Background(), k, c.peers, WithMaxFrameSize(2<<10), WithFrameBudget(1<<10)); err == nil {
		t.Fatal("a frame budget below the max frame size was accepted")
	}
}

// Messages delivered but not yet consumed still hold their budget: a
// consumer that falls behind stops the readers once the budget is spent,
// whatever room the Inbound channel has; as it consumes (Inbound.Done) the
// rest arrive.
func TestUnconsumedMessagesHoldTheirBudget(t *testing.T) {
	const share = 64 << 10
	c := newCluster(t, 2, false, func(cfg *Config) {
		cfg.MaxFrameSize, cfg.ReplicaFrameBudget = share, share
		cfg.timings = timings{budgetWait: 30 * time.Second, bodyGrace: 10 * time.Second, bodyRate: 1 << 40}
	})
	r0 := c.hosts[0]
	s1 := streamTo(t, c.hosts[1].host, c.peers[0], ReplicaProtocol)
	for range 10 {
		write(t, s1, sizedFrame(t, 20<<10))
	}
	eventually(t, 5*time.Second, "three frames delivered", func() bool { return len(r0.Inbound()) == 3 })
	time.Sleep(200 * time.Millisecond)
	if n := len(r0.Inbound()); n != 3 {
		t.Fatalf("%d frames of 20 KiB wait in Inbound with a budget of 64 KiB", n)
	}
	for range 10 {
		receive(t, r0.Inbound(), 5*time.Second) // and Done
	}
	eventually(t, 5*time.Second, "budget released", func() bool { return budgetOf(r0).ReplicaBytes == 0 })
	_ = s1.Close()
}
