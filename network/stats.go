package network

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DropReason names why a message was dropped; Stats.Dropped is keyed by it.
type DropReason string

// Drop reasons.
const (
	// DropQueueFull: the peer's send queue was full (slow or down peer).
	DropQueueFull DropReason = "queue_full"
	// DropFrameTooLarge: a frame, in or out, exceeded MaxFrameSize.
	DropFrameTooLarge DropReason = "frame_too_large"
	// DropMalformed: a frame did not decode to a non-empty wire.Message,
	// or a peer wrote on a stream it should only read.
	DropMalformed DropReason = "malformed"
	// DropUnknownPeer: replica traffic from a peer not in the cluster, or a
	// send to a replica id not in it.
	DropUnknownPeer DropReason = "unknown_peer"
	// DropNoClientStream: a reply for a client with no open stream.
	DropNoClientStream DropReason = "no_client_stream"
	// DropSendFailed: a frame that failed to write on two streams in a row.
	DropSendFailed DropReason = "send_failed"
	// DropFrameBudget: an inbound frame whose body could not get its bytes
	// of the frame budget (its peer's share or the pool's total was held by
	// other frames) within the wait; its stream was reset.
	DropFrameBudget DropReason = "frame_budget"
	// DropFrameStalled: an inbound frame whose body did not arrive within
	// its deadline; its stream was reset and its budget released.
	DropFrameStalled DropReason = "frame_stalled"
	// DropClientNotAdmitted: a connection from a client whose key is not in
	// Config.Clients, refused before any stream was opened.
	DropClientNotAdmitted DropReason = "client_not_admitted"
)

var dropReasons = []DropReason{DropQueueFull, DropFrameTooLarge, DropMalformed, DropUnknownPeer, DropNoClientStream,
	DropSendFailed, DropFrameBudget, DropFrameStalled, DropClientNotAdmitted}

// Stats is a snapshot of a host's counters.
type Stats struct {
	// Sent counts frames written to streams; Received, messages delivered
	// to Inbound.
	Sent, Received uint64
	// Dropped counts dropped messages by reason; every reason is present.
	Dropped map[DropReason]uint64
	// Connected lists the replica ids with an open outbound stream.
	Connected []uint32
	// ClientStreams counts open client streams (on a replica host).
	ClientStreams int
	// FrameBudget is the inbound frame budget in use now.
	FrameBudget FrameBudgetStats
	// ConnectionsAdmitted and ConnectionsRefused count inbound connections
	// the resource manager's limits let in and refused.
	ConnectionsAdmitted, ConnectionsRefused uint64
}

// FrameBudgetStats is the inbound frame budget: the bytes reserved by frame
// bodies being read, decoded or handed to Inbound, in two pools, so that
// clients can never take what replicas need. A stalled or flooding peer
// shows here as bytes held and as Dropped[DropFrameBudget] and
// Dropped[DropFrameStalled].
type FrameBudgetStats struct {
	// ReplicaBytes of ReplicaLimit are held by frames from replicas (on a
	// client host: every frame, all being replies from replicas).
	ReplicaBytes, ReplicaLimit int64
	// ClientBytes of ClientLimit are held by frames from clients (zero on a
	// client host).
	ClientBytes, ClientLimit int64
	// Peers is how many peers hold some of it.
	Peers int
	// Waits counts frames that had to wait for budget; those that waited
	// in vain are also counted in Dropped[DropFrameBudget].
	Waits uint64
}

// logEvery is the minimum interval between two log lines for one reason: a
// flood of bad frames must not become a flood of log lines.
const logEvery = time.Second

// counters are a host's metrics and its rate-limited drop log.
type counters struct {
	sent, received atomic.Uint64
	// connsAdmitted and connsRefused count inbound connections the
	// resource manager let in or refused.
	connsAdmitted, connsRefused atomic.Uint64
	dropped                     map[DropReason]*atomic.Uint64 // fixed keys: read-only after construction

	log        *slog.Logger
	mu         sync.Mutex
	lastLog    map[DropReason]time.Time
	suppressed map[DropReason]uint64
}

func newCounters(log *slog.Logger) *counters {
	c := &counters{
		dropped:    make(map[DropReason]*atomic.Uint64, len(dropReasons)),
		log:        log,
		lastLog:    make(map[DropReason]time.Time),
		suppressed: make(map[DropReason]uint64),
	}
	for _, r := range dropReasons {
		c.dropped[r] = new(atomic.Uint64)
	}
	return c
}

// drop counts one dropped message and logs it unless a line for the same
// reason was logged within logEvery; the next line reports how many were
// suppressed in between.
func (c *counters) drop(reason DropReason, msg string, attrs ...any) {
	c.dropped[reason].Add(1)
	now := time.Now()
	c.mu.Lock()
	if now.Sub(c.lastLog[reason]) < logEvery {
		c.suppressed[reason]++
		c.mu.Unlock()
		return
	}
	c.lastLog[reason] = now
	n := c.suppressed[reason]
	c.suppressed[reason] = 0
	c.mu.Unlock()
	attrs = append(attrs, slog.String("reason", string(reason)), slog.Uint64("suppressed", n))
	c.log.Warn("network: "+msg, attrs...)
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Sent:     c.sent.Load(),
		Received: c.received.Load(),
		Dropped:  make(map[DropReason]uint64, len(c.dropped)),

		ConnectionsAdmitted: c.connsAdmitted.Load(),
		ConnectionsRefused:  c.connsRefused.Load(),
	}
	for r, v := range c.dropped {
		s.Dropped[r] = v.Load()
	}
	return s
}
