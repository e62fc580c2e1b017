package pbft

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine"
)

// Replica is one PBFT replica's protocol state. It is not safe for concurrent
// use: one goroutine (the driver's) steps it.
type Replica struct {
	cfg Config
	q   quorum
	svc statemachine.Service

	view     uint64
	low      uint64 // h, the last stable checkpoint
	prevLow  uint64 // the stable checkpoint before low
	lastExec uint64 // the last executed sequence number
	// readFence: after a restart, the highest sequence number the replica
	// had sent its own commit for, so possibly executed and answered
	// clients about. Executed batches are not synced (peers resend them),
	// so a power cut can leave its state below what it replied; it answers
	// no read until it executed this far again (see onReadOnly).
	readFence uint64
	nextSeq   uint64 // at the primary: the last sequence number assigned
	ticks     uint64
	// viewEnteredAt is the tick this replica entered its view (0 for the
	// view it started in).
	viewEnteredAt uint64
	// diverged is the latest checkpoint whose 2f+1 digest differed from
	// this replica's, divergences how many did.
	diverged    *Divergence
	divergences uint64

	slots   map[uint64]*slot // (low, low+L]; never iterated for output order
	clients map[sessionKey]*clientState
	// held is the bytes of outstanding requests each client key holds here;
	// heldTotal their sum (bounded: see mayHold).
	held      map[string]int
	heldTotal int
	// heldDigests names the session holding each held request, by the
	// request's digest: a pre-prepare that names its requests by digest
	// is filled in from them (see resolveRequests).
	heldDigests map[crypto.Digest]sessionKey
	// floors and globalFloor are what evicted sessions leave in the
	// replicated client table (clients.go).
	floors      map[string]uint64
	globalFloor uint64
	genesis     *crypto.Digest // the state digest at sequence 0, taken in New
	queue       admission      // at the primary: requests awaiting a batch, per client key
	// inflight counts, at the primary, each client key's requests in
	// batches it proposed that have not executed (see atInflightShare).
	inflight map[string]inflightUse
	// recent are the last two distinct keys served here (see
	// othersInFlight).
	recent [2]recentKey
	// lowDemand holds the two least demanding active client keys, as the
	// primary last counted them (countDemand), for atInflightShare.
	lowDemand [2]keyDemand
	// demandShare: the batch being taken goes out with none in flight.
	demandShare bool
	// penalties are the client keys caught forging, at the primary.
	penalties map[string]penalty

	checkpoints   map[uint64]*checkpointVotes // (low, low+L]
	ownCheckpoint map[uint64]*wire.Checkpoint // ours, for retransmission
	stableCert    []*wire.Checkpoint          // proof of low
	peers         []peerProgress              // by replica id, from Status
	ahead         []*wire.Checkpoint          // by replica: its latest checkpoint beyond the window
	snapshots     map[uint64]snapshot         // ours at our checkpoints in [low, low+L]
	transfer      transfer                    // where to fetch state from, if behind
	blob          struct {                    // the encoded stable state, served in chunks
		seq  uint64
		data []byte
	}
	progressTick uint64 // tick of the last execution

	active        bool                                 // false between VIEW-CHANGE and NEW-VIEW
	suspecting    bool                                 // the timer fired in this view (suspectPrimary)
	slowPrimary   bool                                 // the suspicion is of a slow primary: execution keeps it
	ownSuspicion  *wire.Suspicion                      // its signed suspicion, of the view it names
	perf          perfMonitor                          // the primary's measured performance, at a backup
	timer         viewTimer                            // the view-change timer
	failedViews   uint                                 // view changes since the last execution
	viewChanges   map[uint64][]*wire.ViewChange        // by view, then replica
	preparedCerts map[uint64]*wire.PreparedCertificate // by sequence: from the highest view it prepared in
	newView       *wire.NewView                        // that started the current view, for resending
	wants         map[uint64]*batchWant                // batches being fetched, by sequence (window-bounded)
	evidence      []*Evidence                          // by replica: the first equivocation proven

	ready Ready
	stats Stats
}

// New makes a replica in view 0 with an empty log.
func New(cfg Config) (*Replica, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	q, _ := newQuorum(len(cfg.Replicas))
	r := &Replica{
		cfg:           cfg,
		q:             q,
		svc:           cfg.Service,
		slots:         make(map[uint64]*slot),
		clients:       make(map[sessionKey]*clientState),
		checkpoints:   make(map[uint64]*checkpointVotes),
		ownCheckpoint: make(map[uint64]*wire.Checkpoint),
		peers:         make([]peerProgress, q.n),
		ahead:         make([]*wire.Checkpoint, q.n),
		snapshots:     make(map[uint64]snapshot),
		active:        true,
		evidence:      make([]*Evidence, q.n),
		viewChanges:   make(map[uint64][]*wire.ViewChange),
		preparedCerts: make(map[uint64]*wire.PreparedCertificate),
		stats:         newStats(),
	}
	// The digest at sequence 0, of the state the service starts in: taken
	// now, before anything executes. Taken at the first CheckpointDigest
	// call instead, a replica asked after executing reported its later
	// state as sequence 0's, unlike the others.
	genesis := r.StateDigest()
	r.genesis = &genesis
	return r, nil
}

// Step handles one message from an authenticated peer. A non-nil error says
// why the message was dropped; the replica's state is then unchanged but for
// its drop counters.
func (r *Replica) Step(from From, m *wire.Message) error {
	if m == nil {
		return r.drop(ErrMalformed, "nil message")
	}
	if req := m.GetRequest(); req != nil {
		return r.onRequest(from, req)
	}
	if from.isClient() {
		return r.drop(ErrSenderMismatch, "client sent a replica message")
	}
	if from.Replica >= r.q.n {
		return r.drop(ErrSenderMismatch, "unknown replica %d", from.Replica)
	}
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return r.onPrePrepare(from, c.PrePrepare)
	case *wire.Message_Prepare:
		return r.onPrepare(from, c.Prepare)
	case *wire.Message_Commit:
		return r.onCommit(from, c.Commit)
	case *wire.Message_Checkpoint:
		return r.onCheckpoint(from, c.Checkpoint)
	case *wire.Message_Status:
		return r.onStatus(from, c.Status)
	case *wire.Message_FetchState:
		return r.onFetchState(from, c.FetchState)
	case *wire.Message_StateChunk:
		return r.onStateChunk(from, c.StateChunk)
	case *wire.Message_Batch:
		return r.onBatch(from, c.Batch)
	case *wire.Message_ViewChange:
		return r.onViewChange(from, c.ViewChange)
	case *wire.Message_NewView:
		return r.onNewView(from, c.NewView)
	default:
		return r.drop(ErrMalformed, "unexpected message type %T", m.Content)
	}
}

// Tick advances the replica's clock by one tick.
func (r *Replica) Tick() {
	r.ticks++
	if r.ticks%r.cfg.StatusTicks == 0 {
		r.broadcastStatus()
	}
	if !r.active && r.ticks%(2*r.cfg.StatusTicks) == 0 {
		r.resendViewChange()
	}
	r.rebroadcastIfStalled()
	r.maybeFetchState()
	r.fetchBatches()
	r.checkTimer()
	r.monitorPrimary()
	r.maybePropose()
}

// HasReady reports whether Ready has anything to do.
func (r *Replica) HasReady() bool { return !r.ready.Empty() }

// Ready hands over what the steps since the last call produced; the driver
// must carry it out in the documented order.
func (r *Replica) Ready() Ready {
	rd := r.ready
	r.ready = Ready{}
	return rd
}

// ID is the replica's id.
func (r *Replica) ID() uint32 { return r.cfg.ID }

// View is the current view.
func (r *Replica) View() uint64 { return r.view }

// ViewChanging reports whether the replica sent VIEW-CHANGE for its view and
// awaits the NEW-VIEW.
func (r *Replica) ViewChanging() bool { return !r.active }

// Primary is the primary of the current view.
func (r *Replica) Primary() uint32 { return r.q.primary(r.view) }

// LastExecuted is the highest executed sequence number.
func (r *Replica) LastExecuted() uint64 { return r.lastExec }

// StableCheckpoint is the low watermark h.
func (r *Replica) StableCheckpoint() uint64 { return r.low }

// Stats returns a copy of the replica's counters.
func (r *Replica) Stats() Stats {
	s := r.stats
	s.Dropped = make(map[string]uint64, len(r.stats.Dropped))
	for k, v := range r.stats.Dropped {
		s.Dropped[k] = v
	}
	return s
}

// RetainedSlots is how many sequence numbers the replica holds log state
// for; the window bounds it.
func (r *Replica) RetainedSlots() int { return len(r.slots) }

func (r *Replica) isPrimary() bool { return r.q.primary(r.view) == r.cfg.ID }

func (r *Replica) inWindow(seq uint64) bool {
	return seq > r.low && seq <= r.low+r.cfg.WindowSize
}

func (r *Replica) send(to int, m *wire.Message) {
	r.ready.Messages = append(r.ready.Messages, Envelope{To: to, Msg: m})
}

func (r *Replica) persist(m *wire.Message) {
	r.ready.Persist = append(r.ready.Persist, m)
}

// verifyReplica checks a signature by replica id over msg.
func (r *Replica) verifyReplica(id uint32, msg, sig []byte) error {
	if int(id) >= r.q.n {
		return r.drop(ErrMalformed, "replica %d does not exist", id)
	}
	if !r.cfg.Verifier.Verify(r.cfg.Replicas[id], msg, sig) {
		return r.drop(ErrBadSignature, "from replica %d", id)
	}
	return nil
}

// checkSender enforces that a message comes straight from its signer.
func (r *Replica) checkSender(from From, signer uint32) error {
	if from.Replica != int(signer) {
		return r.drop(ErrSenderMismatch, "replica %d sent a message signed as %d", from.Replica, signer)
	}
	return nil
}

func (r *Replica) String() string {
	return fmt.Sprintf("replica %d view %d h %d exec %d", r.cfg.ID, r.view, r.low, r.lastExec)
}

// Retained counts what the replica holds in memory that grows with traffic.
// The window bounds every field but Sessions, which the number of client
// sessions bounds.
type Retained struct {
	Slots, Checkpoints, Snapshots, Queued, Sessions int
	// Bytes approximates the encoded size of the retained log and snapshots.
	Bytes int
}

// Retained reports the replica's retained state, for tests and metrics.
func (r *Replica) Retained() Retained {
	rt := Retained{
		Slots: len(r.slots), Checkpoints: len(r.checkpoints) + len(r.ownCheckpoint),
		Snapshots: len(r.snapshots), Queued: r.queue.len(), Sessions: len(r.clients),
	}
	for _, s := range r.slots {
		rt.Bytes += proto.Size(s.prePrepare)
		for i := range s.prepares {
			rt.Bytes += proto.Size(s.prepares[i]) + proto.Size(s.commits[i])
		}
	}
	for _, s := range r.snapshots {
		rt.Bytes += len(s.blob)
	}
	for _, cp := range r.ahead {
		if cp != nil {
			rt.Checkpoints++
		}
	}
	return rt
}
