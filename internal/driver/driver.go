// Package driver runs a pbft.Replica against a Transport and a Badger store:
// the only place where the core meets goroutines, clocks and disks. One
// goroutine owns the replica; it steps it with inbound messages and ticks,
// and a second, the writer, carries out each Ready in the order the core
// documents: persist (synced where the replica binds itself), then send.
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
)

// DefaultGCInterval spaces value-log collections: under load checkpoints
// come several times a second, and collecting at each fourth stalled the
// replica's writes for tens of milliseconds every second (p99 latency).
const DefaultGCInterval = 10 * time.Second

// Config wires a replica to its surroundings.
type Config struct {
	Replica pbft.Config
	// Store is the replica's Badger store.
	Store *storage.DB
	// Storage, if set, is where the persistence rule writes instead of
	// Store (tests run the driver over a pbft.MemStore this way).
	Storage   pbft.Storage
	Transport pbft.Transport
	// TickInterval is the length of one core tick.
	TickInterval time.Duration
	// SnapshotChunkSize is the size of the chunks snapshots are stored in.
	SnapshotChunkSize int
	// GCInterval is the least time between two value-log collections
	// (storage.RunGC), which flush and compact the store and block its
	// writes meanwhile; 0 means DefaultGCInterval.
	GCInterval time.Duration
	Logger     *slog.Logger
	// Metrics, if set, are updated as the replica runs (see NewMetrics).
	Metrics *Metrics
}

// Status is a replica's progress, read safely from outside its goroutine.
type Status struct {
	ID               uint32
	View             uint64
	Primary          uint32
	LastExecuted     uint64
	StableCheckpoint uint64
	// StateDigest is the state digest of the replica's latest checkpoint (at
	// or below LastExecuted): replicas that executed as far agree on it.
	StateDigest crypto.Digest
	// ViewChanging: the replica sent VIEW-CHANGE and awaits the NEW-VIEW.
	ViewChanging bool
	Stats        pbft.Stats
	// PreverifiedSignatures and InlineSignatures count the signature checks
	// the core got answered from the driver's parallel verification, and
	// those it had to make itself one by one (client requests it did not
	// hold, and certificates inside view changes and state transfers);
	// BatchedSignatures those it made in batches of its own (a batch's
	// client signatures at the primary).
	PreverifiedSignatures, InlineSignatures, BatchedSignatures uint64
}

// Driver runs one replica.
type Driver struct {
	cfg    Config
	r      *pbft.Replica
	log    *slog.Logger
	status chan chan Status
	done   chan struct{}
	err    error
	gcAt   uint64    // stable checkpoint at the last value-log GC
	gcTime time.Time // and when it ran
	// reported holds the replicas whose equivocation was already logged.
	reported map[uint32]bool
	// ctx is run's; gc tracks the value-log collection running beside the
	// loop, gcRunning whether one is.
	ctx       context.Context
	gc        sync.WaitGroup
	gcRunning atomic.Bool
	// fetching is the state transfer last logged.
	fetching fetchLog
	// divergences is how many checkpoint divergences were logged.
	divergences uint64
	// views is the view state last logged.
	views viewLog
	// verifier answers the core from signatures verified in parallel.
	verifier *preverifier
	// persister makes each Ready durable before its messages leave; only
	// the writer's goroutine uses it (and the store) once the loop runs.
	persister *pbft.Persister
	writer    *writer
	// batchLimits rate-limits, per replica, the FetchBatch answered;
	// statusLimits and statusAll the status queries of clients.
	batchLimits  []*rate.Limiter
	statusLimits map[string]*rate.Limiter
	statusAll    *rate.Limiter
}

// Start restarts the replica from its store and runs it until ctx ends or
// the store fails.
func Start(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 10 * time.Millisecond
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.SnapshotChunkSize <= 0 {
		// Above the store's 64 KB value threshold, so a snapshot is appended
		// to the value log in large sequential writes. Below it (32 KB chunks
		// in the LSM tree) a 24 MB state filled six memtables per checkpoint
		// and the replica stopped stepping for 1.7 to 3.5 s while they
		// flushed, long enough for its peers to suspect the primary; the
		// value log's space comes back by GC instead, which runs beside the
		// loop.
		cfg.SnapshotChunkSize = storage.DefaultChunkSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Storage == nil {
		if cfg.Store == nil {
			return nil, fmt.Errorf("replica %d: no store", cfg.Replica.ID)
		}
		cfg.Storage = &badgerStore{db: cfg.Store, chunk: cfg.SnapshotChunkSize}
	}
	persister, durable, err := pbft.OpenPersister(cfg.Storage, cfg.Replica.ID)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.Replica.ID, err)
	}
	verifier := &preverifier{inner: cfg.Replica.Verifier, done: make(map[string][]checked)}
	cfg.Replica.Verifier = verifier
	r, err := pbft.Restart(cfg.Replica, durable)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.Replica.ID, err)
	}
	d := &Driver{
		cfg: cfg, r: r, status: make(chan chan Status), done: make(chan struct{}),
		log: cfg.Logger.With("replica", cfg.Replica.ID), verifier: verifier, persister: persister,
		statusAll: rate.NewLimiter(statusAll, statusAll/10), writer: newWriter(),
	}
	d.log.Info("replica started", "last_executed", r.LastExecuted(), "stable", r.StableCheckpoint())
	if cfg.Metrics != nil {
		cfg.Metrics.reset(r)
	}
	go d.run(ctx)
	return d, nil
}

// Done is closed when the replica stopped; Err then says why.
func (d *Driver) Done() <-chan struct{} { return d.done }

// Err is what stopped the replica: nil after its context ended.
func (d *Driver) Err() error {
	<-d.done
	return d.err
}

// Status asks the replica's goroutine for its progress.
func (d *Driver) Status(ctx context.Context) (Status, error) {
	reply := make(chan Status, 1)
	select {
	case d.status <- reply:
		return <-reply, nil
	case <-d.done:
		return Status{}, errors.New("replica stopped")
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

func (d *Driver) run(ctx context.Context) {
	defer close(d.done)
	defer d.gc.Wait() // a collection in progress finishes its round
	defer d.flushDeferred()
	d.ctx = ctx
	go d.runWriter()
	defer func() { // the writer carries out what was handed to it, then stops
		close(d.writer.jobs)
		<-d.writer.done
		if d.err == nil && d.writer.err != nil {
			d.err = d.writer.err
			d.log.Error("replica stopped", "err", d.err)
		}
	}()
	ticker := time.NewTicker(d.cfg.TickInterval)
	defer ticker.Stop()
	in := d.cfg.Transport.Inbound()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			d.r.Tick()
			d.reportEquivocations()
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.observeReplica(d.r, time.Now(), false)
			}
		case m, ok := <-in:
			if !ok {
				return
			}
			// Take whatever else is queued, check all its replica signatures
			// in parallel, then step the messages one by one; one Ready (and
			// one synced write) then covers the whole batch.
			batch := drain(m, in)
			d.verifier.prepare(d.cfg.Replica.ClusterID, d.cfg.Replica.Replicas, batch, d.r.LateVote)
			for _, m := range batch {
				d.step(m)
				m.Done()
			}
		case reply := <-d.status:
			reply <- d.snapshotStatus()
		case <-d.writer.failed:
			return
		}
		if !d.handleReady() {
			return
		}
	}
}

// flushDeferred writes, when the loop ends without an error, what the
// store held back (see badgerStore), so a clean stop loses nothing a crash
// would. The writer has stopped by then.
func (d *Driver) flushDeferred() {
	s, ok := d.cfg.Storage.(*badgerStore)
	if !ok || d.err != nil {
		return
	}
	if err := s.flush(); err != nil {
		d.log.Warn("store: writing the held-back records at stop", "err", err)
	}
}

// step hands one inbound message to the core, unless the driver answers it
// itself.
func (d *Driver) step(m pbft.Inbound) {
	if d.answerStatusQuery(m) || d.answerFetchBatch(m) {
		return
	}
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.observeInbound(m.Msg, time.Now())
	}
	if err := d.r.Step(m.From, m.Msg); err != nil {
		d.log.Debug("dropped", "from", m.From.Replica, "err", err)
	}
}

func (d *Driver) snapshotStatus() Status {
	_, digest := d.r.CheckpointDigest()
	return Status{
		ID: d.r.ID(), View: d.r.View(), Primary: d.r.Primary(), LastExecuted: d.r.LastExecuted(),
		StableCheckpoint: d.r.StableCheckpoint(), StateDigest: digest, ViewChanging: d.r.ViewChanging(), Stats: d.r.Stats(),
		PreverifiedSignatures: d.verifier.hits, InlineSignatures: d.verifier.misses, BatchedSignatures: d.verifier.batched,
	}
}

// handleReady hands the step's Ready to the writer, which makes it durable
// (pbft.Persister: synced where the replica binds itself), then sends its
// messages; false if the writer failed or the loop is stopping.
func (d *Driver) handleReady() bool {
	if !d.r.HasReady() {
		return true
	}
	rd := d.r.Ready()
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.observeReady(rd, time.Now())
	}
	d.logEvents(rd)
	return d.enqueue(writerJob{rd: rd})
}

// send sends rd's messages; the writer's goroutine calls it.
func (d *Driver) send(rd pbft.Ready) {
	for _, env := range rd.Messages {
		switch env.To {
		case pbft.Broadcast:
			for id := range d.cfg.Replica.Replicas {
				if uint32(id) != d.cfg.Replica.ID {
					d.cfg.Transport.Send(uint32(id), env.Msg)
				}
			}
		case pbft.ToClient:
			d.cfg.Transport.SendClient(env.Client, env.Msg)
		default:
			d.cfg.Transport.Send(uint32(env.To), env.Msg)
		}
	}
}

// maybeCollectValueLog lets Badger reclaim value-log space every few stable
// checkpoints (and at most every GCInterval), so the directory shrinks as
// the log below the checkpoints is deleted. The collection runs beside the
// loop: rewriting value-log files of large requests takes seconds, and a
// replica that stopped stepping for them would stall its peers' quorums.
func (d *Driver) maybeCollectValueLog(seq uint64) {
	if seq >= d.gcAt+4*d.cfg.Replica.CheckpointInterval && time.Since(d.gcTime) >= d.cfg.GCInterval || d.gcAt == 0 {
		if !d.gcRunning.CompareAndSwap(false, true) {
			return // the last one is still running: the next checkpoint tries again
		}
		d.gcAt, d.gcTime = seq, time.Now()
		d.gc.Add(1)
		go func() {
			defer d.gc.Done()
			defer d.gcRunning.Store(false)
			if err := d.cfg.Store.RunGC(d.ctx); err != nil && d.ctx.Err() == nil && !errors.Is(err, storage.ErrClosed) {
				d.log.Warn("value log GC", "err", err)
			}
		}()
	}
}

// reportEquivocations logs each new proof that a replica equivocated, once.
func (d *Driver) reportEquivocations() {
	for _, e := range d.r.Evidence() {
		if d.reported[e.Replica] {
			continue
		}
		if d.reported == nil {
			d.reported = make(map[uint32]bool)
		}
		d.reported[e.Replica] = true
		d.log.Warn("replica equivocated: two conflicting messages it signed are kept as evidence",
			"faulty_replica", e.Replica, "first", fmt.Sprintf("%T", e.First.Content), "second", fmt.Sprintf("%T", e.Second.Content))
	}
}
