package network

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// core is what replica and client hosts share: the libp2p host, the inbound
// channel, counters, and the bookkeeping that lets Close stop every
// goroutine and only then close the channel they send on.
type core struct {
	host    host.Host
	log     *slog.Logger
	stats   *counters
	maxSend int // bound on the frames this host sends
	// inbox queues received messages per source and feeds inbound, which
	// the consumer reads.
	inbox   *fairInbox
	inbound chan pbft.Inbound
	timings timings
	// fromReplicas and fromClients are how streams from either kind of
	// peer are read (a client host has only the first).
	fromReplicas, fromClients streamKind

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	streams map[network.Stream]struct{} // open streams, reset on Close

	// last is the message encoded last and its frame: a broadcast sends one
	// message to every replica in turn, and frames are never written to,
	// so the replicas' queues share one encoding.
	encMu     sync.Mutex
	lastMsg   *wire.Message
	lastFrame []byte
	encodes   int // frames encoded, for tests
}

// newLibp2pHost builds a host that speaks only TCP and QUIC (no relays,
// websockets or WebRTC: replicas have fixed, reachable addresses), with our
// gater and fixed resource limits.
func newLibp2pHost(c *core, keyOpt libp2p.Option, listen libp2p.Option, g *gater) error {
	inner, err := newResourceManager()
	if err != nil {
		return err
	}
	rm := countingManager{ResourceManager: inner, admitted: &c.stats.connsAdmitted, refused: &c.stats.connsRefused}
	h, err := libp2p.New(
		keyOpt,
		listen,
		// Without SO_REUSEPORT a dial leaves from an ephemeral port: two
		// replicas dialing each other at once otherwise meet on one 4-tuple
		// (a TCP simultaneous open), the handshake fails and the dial falls
		// back to QUIC (TestDialPrefersTCP saw it).
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.DialRanker(tcpFirst),
		libp2p.ConnectionGater(g),
		libp2p.ResourceManager(rm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
	if err != nil {
		rm.Close() // New does not always release it on failure; Close is idempotent
		return fmt.Errorf("network: libp2p host: %w", err)
	}
	c.host = h
	return nil
}

// streamKind is how one kind of inbound stream is read: its frame limit,
// the pool of the frame budget its bodies draw on, and its read buffer.
type streamKind struct {
	max    int
	budget *frameBudget
	buffer int
	// rate, if set, makes a limiter for each stream of this kind: frames
	// are read no faster than it allows, so a client that floods only
	// meets its connection's flow control, and costs the replica nothing
	// beyond its rate (see Config.ClientFramesPerSecond).
	rate func() *streamRate
}

// streamRate bounds one stream's frames and bytes per second.
type streamRate struct{ frames, bytes *rate.Limiter }

func (r *streamRate) wait(ctx context.Context, n int) error {
	if err := r.frames.Wait(ctx); err != nil {
		return err
	}
	return r.bytes.WaitN(ctx, min(n, r.bytes.Burst()))
}

func newCore(ctx context.Context, log *slog.Logger, maxSend int, t timings) *core {
	c := &core{
		log:     log,
		stats:   newCounters(log),
		maxSend: maxSend,
		timings: t,
		streams: make(map[network.Stream]struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.inbox = newFairInbox(c.ctx)
	c.inbound = c.inbox.out
	c.spawn(c.inbox.run)
	return c
}

// spawn runs f in a goroutine Close waits for; false if already closing.
func (c *core) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// track registers a stream (and, for stream handlers that libp2p runs in its
// own goroutine, that goroutine) so Close can reset it and wait. It returns
// false, having reset s, when the host is closing.
func (c *core) track(s network.Stream, goroutine bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = s.Reset()
		return false
	}
	if goroutine {
		c.wg.Add(1)
	}
	c.streams[s] = struct{}{}
	return true
}

func (c *core) untrack(s network.Stream, goroutine bool) {
	c.mu.Lock()
	delete(c.streams, s)
	c.mu.Unlock()
	if goroutine {
		c.wg.Done()
	}
}

// sleep waits d or until the host closes; false means closing.
func (c *core) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// deliver queues a message for Inbound behind its source's earlier ones. It
// blocks while that source has its share waiting (the stream's flow control
// then slows the sender, whose own queue drops), but never past Close.
func (c *core) deliver(in pbft.Inbound) bool {
	if !c.inbox.push(in) {
		return false
	}
	c.stats.received.Add(1)
	return true
}

// readLoop reads frames from s and delivers them as sent by from, until the
// stream ends or carries bad input; either way the stream is finished here.
// Each frame holds its bytes of the frame budget until its consumer is done
// with it: a consumer that falls behind makes readers wait for budget, not
// memory grow.
func (c *core) readLoop(s network.Stream, from pbft.From, k streamKind) {
	// Buffered: many small frames arrive back to back, and each read from
	// the stream takes the muxer's lock.
	fr := frameReader{r: bufio.NewReaderSize(s, k.buffer), max: k.max, gate: &bodyGate{
		ctx: c.ctx, budget: k.budget, peer: s.Conn().RemotePeer(), s: s, t: c.timings,
	}}
	if k.rate != nil {
		fr.pace = k.rate()
		fr.ctx = c.ctx
	}
	defer fr.release()
	for {
		m, err := fr.next()
		if err != nil {
			c.readFailed(s, err)
			return
		}
		// The frame's budget goes with the message: the consumer gives it
		// back (Inbound.Done) once it handled it, so messages waiting in
		// Inbound are bounded by the budget too, not only those being read.
		ok := c.deliver(pbft.Inbound{From: from, Msg: m, Release: fr.detach()})
		if !ok {
			_ = s.Reset()
			return
		}
	}
}

// budgetStats is the frame budget's part of Stats.
func (c *core) budgetStats() FrameBudgetStats {
	r, cl := c.fromReplicas.budget.snapshot(), c.fromClients.budget.snapshot()
	return FrameBudgetStats{
		ReplicaBytes: r.used, ReplicaLimit: r.limit, ClientBytes: cl.used, ClientLimit: cl.limit,
		Peers: r.peers + cl.peers, Waits: r.waits + cl.waits,
	}
}

// readFailed counts bad input and ends the stream: reset after bad input (the
// sender's writer notices and reconnects), close on a clean end.
func (c *core) readFailed(s network.Stream, err error) {
	peer := s.Conn().RemotePeer()
	switch {
	case errors.Is(err, errFrameTooLarge):
		c.stats.drop(DropFrameTooLarge, "dropping oversized frame, resetting stream", "peer", peer, "err", err)
	case errors.Is(err, errMalformed):
		c.stats.drop(DropMalformed, "dropping undecodable frame, resetting stream", "peer", peer, "err", err)
	case errors.Is(err, errBudget):
		c.stats.drop(DropFrameBudget, "no frame budget for a frame's body, resetting stream", "peer", peer, "err", err)
	case errors.Is(err, errFrameStalled):
		c.stats.drop(DropFrameStalled, "frame body stalled, resetting stream", "peer", peer, "err", err)
	case errors.Is(err, io.EOF):
		_ = s.Close()
		return
	default:
		c.log.Debug("network: stream read ended", "peer", peer, "err", err)
	}
	_ = s.Reset()
}

// maxCoalesce bounds how many bytes of queued frames pump joins into one
// write: under load many small frames (requests, replies, prepares) wait for
// the same peer, and one write each would cost a syscall and a frame of the
// stream's encryption and muxer each.
const maxCoalesce = 64 << 10

// readBuffer is the buffered reader's size on each stream from a replica
// (there are a few, each busy); clientReadBuffer on each stream from a
// client: there may be thousands, most idle, and requests are small.
// Frames that fit are read in place (see frameReader.body).
const (
	readBuffer       = 32 << 10
	clientReadBuffer = 4 << 10
)

// pump writes queued frames to s until a write fails, dead is closed (the
// stream's reader saw it end) or the host closes. pending, if set, is written
// first. Frames already queued behind the first are joined into one write.
// It returns the bytes whose write failed, if any: whole frames, which the
// next stream can carry as they are.
func (c *core) pump(s network.Stream, q *sendQueue, dead <-chan struct{}, pending []byte) []byte {
	var buf []byte
	for {
		frame := pending
		pending = nil
		if frame == nil {
			select {
			case frame = <-q.ch:
				q.taken(frame)
			case <-dead:
				return nil
			case <-c.ctx.Done():
				return nil
			}
		}
		out, frames := frame, 1
	join:
		for len(out) < maxCoalesce {
			select {
			case next := <-q.ch:
				q.taken(next)
				if frames == 1 {
					buf = append(buf[:0], frame...)
				}
				buf = append(buf, next...)
				out, frames = buf, frames+1
			default:
				break join
			}
		}
		// A peer that stops reading must not hold the writer forever: the
		// deadline turns a stall into a reconnect.
		_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := s.Write(out); err != nil {
			c.log.Debug("network: write failed", "peer", s.Conn().RemotePeer(), "err", err)
			return bytes.Clone(out)
		}
		c.stats.sent.Add(uint64(frames))
		if cap(buf) > 4*maxCoalesce {
			buf = nil // one burst of large frames must not pin its buffer
		}
	}
}

// close stops everything: no new streams, reset the open ones, wait for every
// goroutine, close the host, and only then close Inbound (nothing can send on
// it any more).
func (c *core) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	streams := make([]network.Stream, 0, len(c.streams))
	for s := range c.streams {
		streams = append(streams, s)
	}
	c.mu.Unlock()

	c.cancel()
	for _, s := range streams {
		_ = s.Reset()
	}
	c.wg.Wait()
	err := c.host.Close()
	close(c.inbound)
	if err != nil {
		return fmt.Errorf("network: close host: %w", err)
	}
	return nil
}

// sendToReplica encodes m and queues it on replica id's link without
// blocking; an unknown id or a full queue is a counted drop.
func (c *core) sendToReplica(links map[uint32]*link, id uint32, m *wire.Message) {
	l := links[id]
	if l == nil {
		c.stats.drop(DropUnknownPeer, "send to a replica id not in the cluster", "replica", id)
		return
	}
	frame, ok := c.encode(m)
	if !ok {
		return
	}
	if !l.q.push(frame) {
		c.stats.drop(DropQueueFull, "send queue full, dropping message", "replica", id)
	}
}

// encode frames m, counting a message too large to send. It is done in the
// caller's goroutine so the queue holds bytes, never a message the caller
// might still change.
func (c *core) encode(m *wire.Message) ([]byte, bool) {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	if m == c.lastMsg {
		return c.lastFrame, true
	}
	c.encodes++
	frame, err := encodeFrame(m, c.maxSend)
	if err != nil {
		if errors.Is(err, errFrameTooLarge) {
			c.stats.drop(DropFrameTooLarge, "outbound message too large", "err", err)
		} else {
			c.stats.drop(DropMalformed, "outbound message does not encode", "err", err)
		}
		return nil, false
	}
	c.lastMsg, c.lastFrame = m, frame
	return frame, true
}
