// Package sim is Bulwark's deterministic simulator: real replica and client
// cores in one goroutine, virtual time, an event queue ordered by time then
// insertion, a lossy reordering network and Byzantine replicas, all driven by
// one seed. Invariants are checked after every event; a violation names the
// seed that reproduces it.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Options configure one simulated run.
type Options struct {
	Seed     uint64
	Replicas int // n = 3f+1
	// Clients are client keys; each runs Sessions sessions concurrently.
	Clients, Sessions int
	// Operations is the total number of client operations in the run.
	Operations int
	// Keys is the size of the key space the workload touches.
	Keys int
	// ReadPercent of the operations are fast reads (a kv get sent read-only,
	// answered from executed state); with any, the clients run with fast
	// reads, so that writes need 2f+1 matching replies too.
	ReadPercent int
	// RealCrypto signs with ed25519 instead of the keyed-hash test scheme.
	RealCrypto bool
	Network    Network
	// Adversaries are the faulty replicas and what each does; at most f.
	Adversaries []Adversary
	// Outages crash and restart correct replicas or cut them off for a while.
	Outages []Outage
	// BeyondF: adversaries and outages may together exceed f, so the run
	// checks safety only, not liveness or convergence.
	BeyondF bool
	// TickEvery is the time between ticks of every node.
	TickEvery uint64
	// Deadline is the virtual time at which the run stops.
	Deadline uint64
	// Replica tunes the replica cores (identity fields are filled in).
	Replica pbft.Config
	// RetransmitTicks is the clients' retransmission timeout.
	RetransmitTicks uint64
	// Partitions, when set, cuts links between replica instances (Twins
	// schedules, small-scope network faults); see partition.go.
	Partitions Partitioner
}

// Stats summarise a run.
type Stats struct {
	Sent, Dropped, Duplicated, Events uint64
	Completed                         int
	EndTime                           uint64
	ExecutedBatches                   uint64
	Retransmissions                   uint64
	Restarts, StateTransfers          int
	// Stranded counts correct replicas left waiting in a view change.
	Stranded int
	// Signed counts the statements of correct replicas checked against
	// each other for conflicts.
	Signed int
	// Settle is how long after the last fault ended (or after the start,
	// for faults that never end) the last operation completed.
	Settle uint64
}

// Sim is one simulated cluster.
type Sim struct {
	opts     Options
	rng      *rand.Rand
	now      uint64
	order    uint64
	queue    eventQueue
	replicas []*node
	clients  []*clientProc
	byKey    map[string]int // client key -> index into clients
	check    *checker
	stats    Stats
	// faultsEnd is when the last outage ends.
	faultsEnd uint64
	// afterEvent, when set, runs after every event (tests' extra invariants).
	afterEvent func()
	// twinSide says which instance of a twinned replica each replica talks to.
	twinSide []int
	// debugStep, when set, sees every message a replica dropped.
	debugStep func(to, from int, err error)
	// onRoute, when set, sees every envelope a replica sends (tests that a
	// seed replays the same run).
	onRoute func(from int, env pbft.Envelope)
	err     error
}

// New builds the cluster for opts.
func New(opts Options) (*Sim, error) {
	f := (opts.Replicas - 1) / 3
	if len(opts.Adversaries) > f {
		return nil, fmt.Errorf("sim: %d adversaries exceed f=%d", len(opts.Adversaries), f)
	}
	s := &Sim{
		opts:  opts,
		rng:   newRand(opts.Seed),
		byKey: make(map[string]int),
	}
	newSigner, verifier := s.keys()
	pubs := make([]crypto.PublicKey, opts.Replicas)
	signers := make([]crypto.Signer, opts.Replicas)
	for i := range pubs {
		signers[i] = newSigner(fmt.Sprintf("replica-%d", i))
		pubs[i] = signers[i].PublicKey()
	}
	faulty := make([]Adversary, opts.Replicas)
	for _, a := range opts.Adversaries {
		faulty[a.Replica] = a
	}
	for i := range opts.Replicas {
		cfg := opts.Replica
		cfg.ClusterID = "sim"
		cfg.ID = uint32(i)
		cfg.Replicas = pubs
		cfg.Signer = signers[i]
		cfg.Verifier = verifier
		cfg.Service = kv.New()
		r, err := pbft.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("sim: replica %d: %w", i, err)
		}
		n := &node{r: r, cfg: cfg, adv: faulty[i], signer: signers[i], store: pbft.NewMemStore(),
			byz: byzantine.New(byzantine.Config{Kind: faulty[i].Kind, Self: i, Replicas: opts.Replicas,
				Signer: signers[i], Cluster: cfg.ClusterID, Rand: s.rng})}
		if n.persister, _, err = pbft.OpenPersister(n.store, uint32(i)); err != nil {
			return nil, fmt.Errorf("sim: replica %d: %w", i, err)
		}
		if faulty[i].Kind == byzantine.Twin {
			if n.twin, err = twinOf(cfg); err != nil {
				return nil, err
			}
		}
		s.replicas = append(s.replicas, n)
	}
	s.twinSide = make([]int, opts.Replicas)
	for i := range s.twinSide {
		s.twinSide[i] = s.rng.IntN(2)
	}
	s.check = newChecker(s)
	s.newClients(newSigner)
	s.scheduleOutages()
	for i := range opts.Replicas + len(s.clients) {
		// Nodes' clocks start out of phase, as real ones do.
		s.schedule(event{at: 1 + uint64(s.rng.Int64N(int64(max(opts.TickEvery, 1)))), node: i})
	}
	return s, nil
}

// keys returns how to make signers and the verifier for this run.
func (s *Sim) keys() (func(string) crypto.Signer, crypto.Verifier) {
	if !s.opts.RealCrypto {
		scheme := cryptotest.NewScheme(s.opts.Seed)
		return scheme.NewSigner, scheme
	}
	return func(name string) crypto.Signer {
		seed := crypto.Hash([]byte(fmt.Sprintf("sim-%d-%s", s.opts.Seed, name)))
		k, err := crypto.NewPrivateKeyFromSeed(seed[:])
		if err != nil {
			panic(err) // a 32-byte seed never fails
		}
		return k
	}, crypto.Ed25519Verifier{}
}

// Run runs events until every operation completed or the deadline passed,
// and returns the first invariant violation, naming the seed.
func (s *Sim) Run() (Stats, error) {
	for s.err == nil {
		e, ok := s.next()
		if !ok || e.at > s.opts.Deadline {
			break
		}
		s.now = e.at
		s.stats.Events++
		s.handle(e) // checks its invariants as the event's effects happen
		if s.afterEvent != nil {
			s.afterEvent()
		}
		if s.done() || s.now-s.check.progressAt > stallLimit {
			break
		}
	}
	s.stats.EndTime = s.now
	s.stats.Completed = s.check.completed
	s.stats.StateTransfers = s.check.transfers
	s.stats.Stranded = s.strandedCount()
	s.stats.Signed = s.check.signedCount
	if s.check.lastCompletion > s.faultsEnd {
		s.stats.Settle = s.check.lastCompletion - s.faultsEnd
	}
	for _, n := range s.replicas {
		s.stats.Restarts += n.restarts
	}
	for _, c := range s.clients {
		for _, ss := range c.sessions {
			s.stats.Retransmissions += ss.core.Retransmissions()
		}
	}
	if s.err == nil {
		s.err = s.check.atEnd()
	}
	if s.err != nil {
		return s.stats, fmt.Errorf("seed %d (n=%d): %w", s.opts.Seed, s.opts.Replicas, s.err)
	}
	return s.stats, nil
}

func (s *Sim) handle(e event) {
	if e.action != nil {
		e.action()
		return
	}
	if e.node < len(s.replicas) && s.replicas[e.node].down {
		if e.msg == nil {
			s.schedule(event{at: s.now + s.opts.TickEvery, node: e.node})
		}
		return
	}
	if e.msg == nil {
		s.schedule(event{at: s.now + s.opts.TickEvery, node: e.node})
		if e.node < len(s.replicas) {
			n := s.replicas[e.node]
			n.r.Tick()
			if n.twin != nil {
				n.twin.Tick()
			}
			s.flush(e.node)
		} else {
			s.tickClient(e.node - len(s.replicas))
		}
		return
	}
	if e.node < len(s.replicas) {
		from := pbft.FromReplica(uint32(e.from))
		if e.from >= len(s.replicas) {
			from = pbft.FromClient(s.clients[e.from-len(s.replicas)].signer.PublicKey())
		}
		s.observe(e.node, e.msg)
		n := s.replicas[e.node]
		if fb := e.msg.GetFetchBatch(); fb != nil {
			// The driver answers these from the store, as here.
			if answer := n.persister.AnswerFetchBatch(fb); answer != nil && e.from < len(s.replicas) {
				for _, out := range s.corrupt(e.node, pbft.Envelope{To: e.from, Msg: answer}) {
					s.route(e.node, out)
				}
			}
			return
		}
		for _, r := range s.instancesFor(n, e) {
			if err := r.Step(from, e.msg); err != nil && s.debugStep != nil {
				s.debugStep(e.node, e.from, err)
			} // drops are counted by the replica
			if err := r.CheckInvariants(); err != nil && n.adv.Kind == byzantine.Honest && s.err == nil {
				s.err = fmt.Errorf("INVARIANT: replica %d at time %d: %w", e.node, s.now, err)
			}
			s.check.evidence(e.node, r)
		}
		s.flush(e.node)
		return
	}
	s.clientReceive(e.node-len(s.replicas), e.from, e.msg)
}

// flush carries out a replica's Ready as the driver does: the persistence
// rule (pbft.Persister) writes it to the replica's MemStore, then Messages
// go through the adversary (if any) onto the network; Executed feeds the
// checker. A torn crash (see Outage) stops the replica between two of the
// store's writes or between two sends.
func (s *Sim) flush(id int) {
	n := s.replicas[id]
	if n.twin != nil {
		s.flushTwins(id, n)
		return
	}
	if !n.r.HasReady() {
		return
	}
	rd := n.r.Ready()
	if n.adv.Kind == byzantine.Honest {
		if err := s.check.executed(id, rd.Executed, rd.Restored); err != nil && s.err == nil {
			s.err = err
		}
	}
	sends := len(rd.Messages)
	if n.tornAt != nil && bindingReady(rd) {
		sends = s.tearFlush(n, len(rd.Messages))
	}
	if err := n.persister.Persist(rd); err != nil {
		if errors.Is(err, pbft.ErrPowerLoss) {
			s.powerCut(id)
			return
		}
		if s.err == nil {
			s.err = fmt.Errorf("replica %d: %w", id, err)
		}
		return
	}
	for i, env := range rd.Messages {
		if i == sends {
			s.powerCut(id)
			return
		}
		if n.adv.Kind == byzantine.Honest {
			s.check.signed(id, env.Msg)
		}
		for _, out := range s.corrupt(id, env) {
			s.route(id, out)
		}
	}
}

// bindingReady: rd writes something synced, so a crash inside its flush
// can tear it.
func bindingReady(rd pbft.Ready) bool {
	return len(rd.Persist) > 0 || len(rd.Prepared) > 0 || rd.View != nil || rd.Low != nil || rd.Stable != nil || rd.Restored != nil
}

// route expands an envelope to its destinations.
func (s *Sim) route(from int, env pbft.Envelope) {
	if s.onRoute != nil {
		s.onRoute(from, env)
	}
	switch env.To {
	case pbft.Broadcast:
		for to := range s.replicas {
			if to != from {
				s.transmit(from, to, env.Msg)
			}
		}
	case pbft.ToClient:
		if c, ok := s.byKey[env.Client]; ok {
			s.transmit(from, len(s.replicas)+c, env.Msg)
		}
	default:
		if env.To >= 0 && env.To < len(s.replicas) && env.To != from {
			s.transmit(from, env.To, env.Msg)
		}
	}
}

// stallLimit ends a run in which no batch executed and no operation completed
// for this long: nothing more will happen (a faulty primary and no view
// change), or, with a correct primary, the liveness check reports it.
const stallLimit = 30_000

// done: every operation completed and, where a correct primary promises it,
// every correct replica caught up with the others.
func (s *Sim) done() bool {
	return s.check.completed >= s.opts.Operations && s.now >= s.faultsEnd &&
		(!s.liveness() || (!s.convergenceExpected() || s.converged() == nil) && s.strandedCount() == 0)
}

// liveness: the run can promise progress, never having more than f faulty
// replicas at once; a faulty primary is voted out.
func (s *Sim) liveness() bool { return !s.opts.BeyondF }

// convergenceExpected: correct replicas must end equal once faults stopped,
// which a faulty primary of the latest started view has not: it may keep one
// correct replica on a batch nobody else commits until the next checkpoint,
// or leave one that missed its NEW-VIEW waiting for a view nobody else needs.
func (s *Sim) convergenceExpected() bool {
	view := uint64(0)
	for _, n := range s.replicas {
		if n.adv.Kind == byzantine.Honest && !n.down && !n.r.ViewChanging() {
			view = max(view, n.r.View())
		}
	}
	return s.replicas[view%uint64(len(s.replicas))].adv.Kind == byzantine.Honest
}

// converged reports why correct replicas differ, or nil once every one that
// is up and in a started view executed the same sequence number and holds
// the same state, and none is left waiting in a view change.
//
// A correct replica that sent VIEW-CHANGE cannot return to the old view
// (its VIEW-CHANGE is signed and may yet be used): one that did so alone
// would wait for a NEW-VIEW nobody else needs. Suspicions make that
// impossible: it sends VIEW-CHANGE only on f+1 signed suspicions, which its
// VIEW-CHANGE carries and on which the others join (pbft's
// joinOnSuspicions), Byzantine replicas or not. So a replica still waiting
// for a view beyond the others' keeps the run from converging, and one left
// so at the end fails it (stranded).
func (s *Sim) converged() error {
	var first *node
	for _, n := range s.replicas {
		switch {
		case n.adv.Kind != byzantine.Honest || n.down || n.r.ViewChanging():
		case first == nil:
			first = n
		case n.r.LastExecuted() != first.r.LastExecuted():
			return fmt.Errorf("replica %d executed up to %d, replica %d up to %d",
				n.r.ID(), n.r.LastExecuted(), first.r.ID(), first.r.LastExecuted())
		case n.stateDigest() != first.stateDigest():
			return fmt.Errorf("replicas %d and %d differ in state at %d", n.r.ID(), first.r.ID(), n.r.LastExecuted())
		}
	}
	if first == nil {
		return fmt.Errorf("no correct replica is in a started view")
	}
	for _, n := range s.replicas {
		if n.adv.Kind != byzantine.Honest || n.down || !n.r.ViewChanging() {
			continue
		}
		if n.r.LastExecuted() < first.r.StableCheckpoint() {
			return fmt.Errorf("replica %d, waiting for view %d, executed up to %d, below the stable checkpoint %d",
				n.r.ID(), n.r.View(), n.r.LastExecuted(), first.r.StableCheckpoint())
		}
		if n.r.View() > first.r.View() {
			return fmt.Errorf("replica %d is stranded: it waits for view %d while replica %d works in view %d",
				n.r.ID(), n.r.View(), first.r.ID(), first.r.View())
		}
		// It missed the NEW-VIEW of a view the others use (it was cut off):
		// whoever holds it resends it when its Status shows so.
	}
	return nil
}

// strandedCount is how many correct replicas wait for a view beyond every
// view a correct replica works in.
func (s *Sim) strandedCount() int {
	working := uint64(0)
	for _, n := range s.replicas {
		if n.adv.Kind == byzantine.Honest && !n.down && !n.r.ViewChanging() {
			working = max(working, n.r.View())
		}
	}
	count := 0
	for _, n := range s.replicas {
		if n.adv.Kind == byzantine.Honest && !n.down && n.r.ViewChanging() && n.r.View() > working {
			count++
		}
	}
	return count
}

// byzantine reports whether any replica of the run is faulty beyond
// crashing.
func (s *Sim) byzantine() bool {
	for _, n := range s.replicas {
		if n.adv.Kind != byzantine.Honest {
			return true
		}
	}
	return false
}

// node is a replica, honest or wrapped by an adversary.
type node struct {
	r   *pbft.Replica
	cfg pbft.Config
	// store is its disk, which a crash leaves with only what was synced;
	// persister writes to it.
	store     *pbft.MemStore
	persister *pbft.Persister
	// down: crashed; cutOff: nothing reaches it or leaves it.
	down, cutOff bool
	// tornAt is the torn crash waiting for the replica's next flush.
	tornAt   *Outage
	restarts int
	adv      Adversary
	signer   crypto.Signer
	// byz rewrites what the core sends, as adv.Kind says.
	byz *byzantine.Decorator
	// seen are messages a mutating replica may reuse (mutation.go).
	seen []*wire.Message
	// twin is a second instance with the same key (Twins): each other
	// replica talks to one of the two.
	twin *pbft.Replica
	// digest caches r's state digest at digestAt executed: the state
	// changes only by executing (or installing) further.
	digest   crypto.Digest
	digestAt uint64
	digestOf *pbft.Replica
}

// stateDigest is the replica's state digest, computed once per executed
// sequence number (done checks convergence after every event).
func (n *node) stateDigest() crypto.Digest {
	if n.digestOf != n.r || n.digestAt != n.r.LastExecuted() {
		n.digest, n.digestAt, n.digestOf = n.r.StateDigest(), n.r.LastExecuted(), n.r
	}
	return n.digest
}
