package pbft

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine"
)

// Config is what a replica is told at start-up. It never changes at run time.
type Config struct {
	// ClusterID separates the signatures of different clusters.
	ClusterID string
	// ID is this replica's index into Replicas.
	ID uint32
	// Replicas are the public keys of all n = 3f+1 replicas, by id.
	Replicas []crypto.PublicKey
	// Signer signs with this replica's key; its public key is Replicas[ID].
	Signer crypto.Signer
	// Verifier checks replica and client signatures.
	Verifier crypto.Verifier
	// Service is the deterministic service requests are applied to.
	Service statemachine.Service

	// CheckpointInterval is K: a checkpoint every K sequence numbers.
	CheckpointInterval uint64
	// WindowSize is L: sequence numbers in (h, h+L] may be assigned. A multiple
	// of K, at least 2K, so the primary never stalls waiting for a checkpoint.
	WindowSize uint64
	// MaxBatchSize bounds the requests in one pre-prepare.
	MaxBatchSize int
	// MaxBatchBytes bounds the encoded requests of one pre-prepare, so that
	// large requests can never build a message beyond MaxMessageSize.
	MaxBatchBytes int
	// MaxMessageSize is the largest message the transport carries (its frame
	// limit). New refuses a configuration whose largest pre-prepare,
	// VIEW-CHANGE, NEW-VIEW or state chunk could exceed it: a message that
	// cannot be sent would stop the protocol for good.
	MaxMessageSize int
	// MaxInflightBatches bounds how far the primary proposes ahead of its own
	// execution; requests arriving meanwhile gather into larger batches.
	MaxInflightBatches uint64
	// MaxSessions bounds session ids: each must be below it. It does not
	// bound memory (the client table is bounded as a whole, see clients.go);
	// it is large so that processes sharing one client key can each pick a
	// random range of session ids without colliding.
	MaxSessions uint64
	// MaxOperationSize bounds one request's operation in bytes.
	MaxOperationSize int
	// MaxQueuedRequests bounds the primary's queue of requests not yet
	// proposed; beyond it requests are dropped (clients retransmit).
	MaxQueuedRequests int
	// MaxQueuedPerClient bounds the requests of one client key in that
	// queue. Keys are served round-robin, so a flooding key delays itself.
	MaxQueuedPerClient int
	// MaxClientSessions and MaxReplyCacheBytes bound the replicated client
	// table (each session's last timestamp and result) at every checkpoint;
	// ClientIdleSequences evicts sessions idle that long (0: never for
	// idleness); MaxClientFloors bounds the per-key floors evicted sessions
	// leave. See clients.go. They decide what executes, so every replica
	// must use the same values.
	MaxClientSessions   int
	MaxReplyCacheBytes  int
	ClientIdleSequences uint64
	MaxClientFloors     int
	// MaxHeldBytes bounds the bytes of outstanding client requests (held
	// until they execute, at every replica); MaxHeldBytesPerClient is one
	// key's share. Past MaxHeldBytes only keys below an even share are
	// admitted, up to twice MaxHeldBytes.
	MaxHeldBytes, MaxHeldBytesPerClient int
	// StatusTicks is how many ticks pass between Status messages.
	StatusTicks uint64
	// ResendLimit bounds how many sequence numbers one Status answer covers.
	ResendLimit uint64
	// SignReplies makes replies carry a signature (transferable certificates).
	SignReplies bool
	// StateChunkSize bounds one state transfer message's payload.
	StateChunkSize int
	// MaxStateSize bounds the state a replica accepts in a transfer.
	MaxStateSize int
	// ViewChangeTicks is T: how long a held request may wait before the
	// replica suspects the primary; it doubles on consecutive view changes.
	ViewChangeTicks uint64
	// MaxFutureViews bounds how far above its view a replica keeps
	// VIEW-CHANGE messages, so nobody can fill its memory with them.
	MaxFutureViews uint64
	// The primary's measured performance (see perfMonitor): over windows
	// of PerformanceWindowTicks, a backup suspects a primary whose median
	// propose delay exceeds SlowPrimaryDelayFactor times the recent
	// baseline (and MinProposeDelayTicks) while it pre-prepares less than
	// SlowPrimaryPercent of a recent window's requests and bytes. Zero
	// takes the default; a negative SlowPrimaryPercent turns it off. They
	// decide only liveness, never what executes.
	PerformanceWindowTicks uint64
	SlowPrimaryDelayFactor uint64
	MinProposeDelayTicks   uint64
	SlowPrimaryPercent     int
}

// Defaults for zero Config fields.
const (
	DefaultCheckpointInterval = 64
	DefaultMaxBatchSize       = 128
	DefaultMaxBatchBytes      = 4 << 20
	DefaultMaxMessageSize     = 16 << 20
	DefaultMaxQueuedPerClient = 4096
	DefaultMaxHeldBytes       = 64 << 20
	DefaultMaxClientSessions  = 1 << 14
	DefaultMaxReplyCacheBytes = 32 << 20
	DefaultClientIdleSeqs     = 1 << 16
	DefaultMaxClientFloors    = 1 << 16
	DefaultMaxHeldPerClient   = 16 << 20
	DefaultMaxInflightBatches = 4
	DefaultMaxSessions        = 1 << 32
	DefaultMaxOperationSize   = 1 << 20
	DefaultMaxQueuedRequests  = 100_000
	DefaultStatusTicks        = 10
	DefaultResendLimit        = 32
	DefaultStateChunkSize     = 1 << 20
	DefaultMaxStateSize       = 1 << 30
	DefaultViewChangeTicks    = 200
	// With 10 ms ticks: windows of 1 s, a slow primary proposing 4 times
	// later than recently and at least 50 ms after the request arrived,
	// while ordering less than half as much.
	DefaultPerformanceWindowTicks = 100
	DefaultSlowPrimaryDelayFactor = 4
	DefaultMinProposeDelayTicks   = 5
	DefaultSlowPrimaryPercent     = 50
	MaxViewChangeTicks            = 1 << 40
	DefaultMaxFutureViews         = 64
)

// ErrConfig marks configuration mistakes.
var ErrConfig = errors.New("invalid replica configuration")

func (c Config) withDefaults() Config {
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.WindowSize == 0 {
		c.WindowSize = 2 * c.CheckpointInterval
	}
	if c.MaxBatchSize == 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxQueuedPerClient == 0 {
		c.MaxQueuedPerClient = DefaultMaxQueuedPerClient
	}
	if c.MaxClientSessions == 0 {
		c.MaxClientSessions = DefaultMaxClientSessions
	}
	if c.MaxReplyCacheBytes == 0 {
		c.MaxReplyCacheBytes = DefaultMaxReplyCacheBytes
	}
	if c.ClientIdleSequences == 0 {
		c.ClientIdleSequences = DefaultClientIdleSeqs
	}
	if c.MaxClientFloors == 0 {
		c.MaxClientFloors = DefaultMaxClientFloors
	}
	if c.MaxHeldBytes == 0 {
		c.MaxHeldBytes = DefaultMaxHeldBytes
	}
	if c.MaxHeldBytesPerClient == 0 {
		c.MaxHeldBytesPerClient = DefaultMaxHeldPerClient
	}
	if c.MaxInflightBatches == 0 {
		c.MaxInflightBatches = DefaultMaxInflightBatches
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxOperationSize == 0 {
		c.MaxOperationSize = DefaultMaxOperationSize
	}
	if c.MaxQueuedRequests == 0 {
		c.MaxQueuedRequests = DefaultMaxQueuedRequests
	}
	if c.StatusTicks == 0 {
		c.StatusTicks = DefaultStatusTicks
	}
	if c.ResendLimit == 0 {
		c.ResendLimit = DefaultResendLimit
	}
	if c.StateChunkSize == 0 {
		c.StateChunkSize = DefaultStateChunkSize
	}
	if c.MaxStateSize == 0 {
		c.MaxStateSize = DefaultMaxStateSize
	}
	if c.ViewChangeTicks == 0 {
		c.ViewChangeTicks = DefaultViewChangeTicks
	}
	if c.MaxFutureViews == 0 {
		c.MaxFutureViews = DefaultMaxFutureViews
	}
	if c.PerformanceWindowTicks == 0 {
		c.PerformanceWindowTicks = DefaultPerformanceWindowTicks
	}
	if c.SlowPrimaryDelayFactor == 0 {
		c.SlowPrimaryDelayFactor = DefaultSlowPrimaryDelayFactor
	}
	if c.MinProposeDelayTicks == 0 {
		c.MinProposeDelayTicks = DefaultMinProposeDelayTicks
	}
	if c.SlowPrimaryPercent == 0 {
		c.SlowPrimaryPercent = DefaultSlowPrimaryPercent
	}
	return c
}

// CheckLimits checks, with defaults filled in, the protocol parameters all
// replicas share (replica count, window, batch and message sizes, timeouts),
// without the identity, keys and service New also needs: a cluster file can
// be checked with it before any replica starts.
func (c Config) CheckLimits() error {
	return c.withDefaults().checkLimits()
}

func (c Config) validate() error {
	if err := c.checkLimits(); err != nil {
		return err
	}
	if int(c.ID) >= len(c.Replicas) {
		return fmt.Errorf("%w: id: %d is not below the %d replicas", ErrConfig, c.ID, len(c.Replicas))
	}
	switch {
	case c.Signer == nil:
		return fmt.Errorf("%w: signer: missing", ErrConfig)
	case !bytes.Equal(c.Signer.PublicKey(), c.Replicas[c.ID]):
		return fmt.Errorf("%w: signer: its public key is not replicas[%d]", ErrConfig, c.ID)
	case c.Verifier == nil:
		return fmt.Errorf("%w: verifier: missing", ErrConfig)
	case c.Service == nil:
		return fmt.Errorf("%w: service: missing", ErrConfig)
	}
	return nil
}

func (c Config) checkLimits() error {
	if _, err := newQuorum(len(c.Replicas)); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for i, k := range c.Replicas {
		if len(k) == 0 {
			return fmt.Errorf("%w: replicas[%d]: empty public key", ErrConfig, i)
		}
	}
	switch {
	case c.WindowSize/2 < c.CheckpointInterval || c.WindowSize%c.CheckpointInterval != 0: // not 2*interval: it wraps
		return fmt.Errorf("%w: window size: %d is not a multiple of the checkpoint interval %d of at least twice it",
			ErrConfig, c.WindowSize, c.CheckpointInterval)
	case c.MaxBatchSize < 1:
		return fmt.Errorf("%w: max batch size: %d is below 1", ErrConfig, c.MaxBatchSize)
	case c.SlowPrimaryPercent > 100:
		return fmt.Errorf("%w: slow primary percent: %d is above 100", ErrConfig, c.SlowPrimaryPercent)
	case c.ViewChangeTicks > MaxViewChangeTicks:
		// The timeout doubles up to 2^16 times; beyond this it would wrap.
		return fmt.Errorf("%w: view change ticks: %d is above %d", ErrConfig, c.ViewChangeTicks, uint64(MaxViewChangeTicks))
	case c.MaxBatchBytes < 1 || c.MaxOperationSize < 1 || c.MaxMessageSize < 1:
		return fmt.Errorf("%w: max batch bytes %d, max operation size %d and max message size %d must be positive",
			ErrConfig, c.MaxBatchBytes, c.MaxOperationSize, c.MaxMessageSize)
	case maxRequestSize(c.MaxOperationSize) > c.MaxBatchBytes:
		return fmt.Errorf("%w: max batch bytes: %d cannot hold one request of the largest operation (%d bytes encoded)",
			ErrConfig, c.MaxBatchBytes, maxRequestSize(c.MaxOperationSize))
	case c.MaxHeldBytesPerClient < maxRequestSize(c.MaxOperationSize) || c.MaxHeldBytes < c.MaxHeldBytesPerClient:
		return fmt.Errorf("%w: max held bytes %d, per client %d: a client must be able to hold one largest request (%d bytes), and all of them together at least one client's share",
			ErrConfig, c.MaxHeldBytes, c.MaxHeldBytesPerClient, maxRequestSize(c.MaxOperationSize))
	case c.MaxQueuedPerClient < 1 || c.MaxQueuedRequests < 1:
		return fmt.Errorf("%w: max queued requests %d and per client %d must be positive", ErrConfig, c.MaxQueuedRequests, c.MaxQueuedPerClient)
	}
	return c.checkMessageSizes()
}
