package bulwark

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

// Ceilings of the cluster file. Each lies far beyond any setting that
// works; they turn a slip of the keyboard (a few zeros too many) into one
// line at start instead of a replica that allocates, waits or computes
// without bound.
const (
	maxClusterID = 256     // bytes; it is part of every signed transcript
	maxReplicas  = 1024    // 3*341+1; the NEW-VIEW grows with n squared
	maxAddrs     = 16      // per replica: each is listened on and dialed
	maxWindow    = 1 << 20 // sequence numbers; the window's state is kept per slot
	maxBatch     = 1 << 16 // requests per batch
	maxTickMS    = 1000    // the tick is the clock's resolution
	// maxViewChangeTimeout bounds the first view-change timeout; it doubles
	// on every failed view.
	maxViewChangeTimeout = time.Hour
	// maxMessageSize is network.Config's own ceiling on MaxFrameSize.
	maxMessageSize = 1 << 30
)

// largestRequest is the encoded size of the largest request a client may
// send: an operation of pbft.DefaultMaxOperationSize bytes (the cluster file
// does not change it) with every other field at its largest. The core's
// bound is not exported; TestLargestRequestIsTheCoresBound holds the two
// together.
var largestRequest = proto.Size(&wire.Request{
	ClientKey: make([]byte, crypto.PublicKeySize), Session: math.MaxUint64, Timestamp: math.MaxUint64,
	ReadOnly: true, Signature: make([]byte, crypto.SignatureSize),
}) + protowire.SizeTag(4) + protowire.SizeBytes(pbft.DefaultMaxOperationSize) // 4: Request.operation

// ValidateProtocol checks the protocol parameters that do not depend on the
// replicas (Validate also checks that the largest messages of the cluster
// fit max_message_size); zero MaxBatchBytes and MaxMessageSize take their
// defaults.
func ValidateProtocol(p Protocol) error { return validateProtocol(p.withDefaults()) }

// Ceilings of the client table's limits: far above any working cluster's,
// low enough that the table fits a replica's memory.
const (
	maxClientSessions  = 1 << 22
	maxReplyCacheBytes = 1 << 30
)

func validateProtocol(p Protocol) error {
	switch {
	case p.CheckpointInterval == 0:
		return errors.New("protocol.checkpoint_interval: must be positive")
	case p.Window > maxWindow:
		return fmt.Errorf("protocol.window: %d is above 2^20 (%d)", p.Window, maxWindow)
	case p.Window/2 < p.CheckpointInterval || p.Window%p.CheckpointInterval != 0: // not 2*interval: it wraps
		return fmt.Errorf("protocol.window: %d is not a multiple of checkpoint_interval %d of at least twice it",
			p.Window, p.CheckpointInterval)
	case p.MaxBatch < 1:
		return fmt.Errorf("protocol.max_batch: %d is below 1", p.MaxBatch)
	case p.MaxBatch > maxBatch:
		return fmt.Errorf("protocol.max_batch: %d is above %d", p.MaxBatch, maxBatch)
	case p.MaxMessageSize < largestRequest || p.MaxMessageSize > maxMessageSize:
		return fmt.Errorf("protocol.max_message_size: %d is outside [%d, %d] (one request of the largest operation, 1 GiB)",
			p.MaxMessageSize, largestRequest, maxMessageSize)
	case p.MaxBatchBytes < largestRequest:
		return fmt.Errorf("protocol.max_batch_bytes: %d is below %d, one request of the largest operation",
			p.MaxBatchBytes, largestRequest)
	case p.MaxBatchBytes > p.MaxMessageSize:
		return fmt.Errorf("protocol.max_batch_bytes: %d is above max_message_size %d (a batch travels in one message)",
			p.MaxBatchBytes, p.MaxMessageSize)
	case p.ViewChangeTicks == 0:
		return errors.New("protocol.view_change_ticks: must be positive")
	case p.ViewChangeTicks > pbft.MaxViewChangeTicks:
		return fmt.Errorf("protocol.view_change_ticks: %d is above 2^40 (the timeout doubles on failed views)", p.ViewChangeTicks)
	case p.TickMS < 1 || p.TickMS > maxTickMS:
		return fmt.Errorf("protocol.tick_ms: %d is outside [1, %d]", p.TickMS, maxTickMS)
	case p.MaxOperationSize < 0 || p.MaxOperationSize > pbft.DefaultMaxOperationSize:
		return fmt.Errorf("protocol.max_operation_size: %d is outside [1, %d]", p.MaxOperationSize, pbft.DefaultMaxOperationSize)
	case p.MaxClientSessions < 0 || p.MaxClientSessions > maxClientSessions:
		return fmt.Errorf("protocol.max_client_sessions: %d is outside [1, %d]", p.MaxClientSessions, maxClientSessions)
	case p.MaxReplyCacheBytes < 0 || p.MaxReplyCacheBytes > maxReplyCacheBytes:
		return fmt.Errorf("protocol.max_reply_cache_bytes: %d is outside [1, %d]", p.MaxReplyCacheBytes, maxReplyCacheBytes)
	case p.SlowPrimaryPercent < -1 || p.SlowPrimaryPercent > 100:
		return fmt.Errorf("protocol.slow_primary_percent: %d is outside [1, 100] (or -1: off)", p.SlowPrimaryPercent)
	case p.PerformanceWindowTicks > maxWindow:
		return fmt.Errorf("protocol.performance_window_ticks: %d is above %d", p.PerformanceWindowTicks, maxWindow)
	case p.SlowPrimaryDelayFactor > 1<<20:
		return fmt.Errorf("protocol.slow_primary_delay_factor: %d is above %d", p.SlowPrimaryDelayFactor, 1<<20)
	case p.MinProposeDelayTicks > pbft.MaxViewChangeTicks:
		return fmt.Errorf("protocol.min_propose_delay_ticks: %d is above 2^40", p.MinProposeDelayTicks)
	}
	// Counted in milliseconds, where the bounded factors cannot wrap (in
	// nanoseconds they could).
	if ms := p.ViewChangeTicks * uint64(p.TickMS); ms > uint64(maxViewChangeTimeout/time.Millisecond) {
		return fmt.Errorf("protocol.view_change_ticks: %d ticks of %d ms is over %v (the timeout doubles on failed views)",
			p.ViewChangeTicks, p.TickMS, maxViewChangeTimeout)
	}
	return nil
}

// checkCore runs the check pbft.New makes when a replica starts, so that a
// cluster file Validate accepts cannot fail there, and names the field to
// change when it refuses. Besides what validateProtocol checks, the core
// refuses a configuration under which a message some replica may have to
// send exceeds max_message_size: such a message is never delivered, and a
// VIEW-CHANGE that cannot be delivered stops the cluster for good. pbft
// exports no check without a signer and a service, hence the stand-ins.
func checkCore(c *Cluster) error {
	p, n := c.File.Protocol, c.N()
	// The core finds the largest NEW-VIEW by walking each of its signed
	// messages, about n*window*2f of them; a lower bound refuses a hopeless
	// window first, so a typo costs microseconds, not minutes.
	if lb := newViewLowerBound(n, p.Window); lb > uint64(p.MaxMessageSize) {
		return fmt.Errorf("protocol.window: the largest new view of %d replicas and a window of %d is over %d bytes, "+
			"above max_message_size %d: lower window or raise max_message_size", n, p.Window, lb, p.MaxMessageSize)
	}
	cfg := c.ReplicaConfig(0)
	cfg.Signer, cfg.Service = publicOnly(c.Pubs[0]), null.New()
	_, err := pbft.New(cfg)
	if err == nil {
		return nil
	}
	if err := oversized(c, cfg); err != nil {
		return err
	}
	return fmt.Errorf("protocol: change checkpoint_interval, window, max_batch, max_batch_bytes, "+
		"max_message_size or view_change_ticks: %w", err)
}

// oversized names the field to change if one of the largest messages cfg
// allows exceeds max_message_size. It walks them as the core does, so it
// runs only once the core has refused.
func oversized(c *Cluster, cfg pbft.Config) error {
	p, n := c.File.Protocol, c.N()
	limit := p.MaxMessageSize
	s := pbft.WorstCaseSizes(cfg)
	switch {
	case max(s.PrePrepare, s.Batch) > limit:
		return fmt.Errorf("protocol.max_batch_bytes: the largest pre-prepare is %d bytes, above max_message_size %d: "+
			"lower max_batch_bytes or raise max_message_size", max(s.PrePrepare, s.Batch), limit)
	case max(s.ViewChange, s.NewView) > limit:
		return fmt.Errorf("protocol.window: the largest new view of %d replicas and a window of %d is %d bytes, "+
			"above max_message_size %d: lower window or raise max_message_size", n, p.Window, max(s.ViewChange, s.NewView), limit)
	case s.StateChunk > limit:
		return fmt.Errorf("protocol.max_message_size: %d is below the largest state chunk, %d bytes", limit, s.StateChunk)
	}
	return nil
}

// newViewLowerBound is at most the size of the largest NEW-VIEW: n
// VIEW-CHANGEs, each with n checkpoints and window prepared certificates of
// a pre-prepare and 2f prepares, and every one of these carries at least a
// 32-byte digest and a 64-byte signature. The arguments are bounded (n by
// maxReplicas, window by maxWindow), so it cannot wrap.
func newViewLowerBound(n int, window uint64) uint64 {
	f := uint64(n-1) / 3
	return (crypto.DigestSize + crypto.SignatureSize) * uint64(n) * (window*(2*f+1) + uint64(n))
}

// publicOnly is a Signer holding only a replica's public key: pbft.New
// compares it with the replica's entry and never signs.
type publicOnly crypto.PublicKey

func (p publicOnly) PublicKey() crypto.PublicKey { return crypto.PublicKey(p) }
func (publicOnly) Sign([]byte) []byte            { return nil }
