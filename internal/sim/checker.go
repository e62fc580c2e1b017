package sim

import (
	"bytes"
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/internal/conflicts"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// opKey names one client operation.
type opKey struct {
	client    string
	session   uint64
	timestamp uint64
}

type sessionID struct {
	client  string
	session uint64
}

// committedBatch is what the committed order holds at one sequence number,
// with the outcome of executing it on an independent reference service.
type committedBatch struct {
	digest  crypto.Digest
	skipped []bool
	results [][]byte
}

// checker holds the invariants. The first correct replica to execute a
// sequence number fixes the committed order there; the checker re-executes
// that order on its own key-value store, applying PBFT's timestamp rule
// itself, and every correct replica and every accepted client result must
// agree with it.
type checker struct {
	s        *Sim
	order    []committedBatch // by sequence-1
	ref      *kv.Store
	refLast  map[sessionID]uint64
	results  map[opKey][]byte
	lastExec []uint64 // by replica
	// submitted holds the digest of every request a client sent.
	submitted map[crypto.Digest]bool
	completed int
	transfers int
	// progressAt is the last time a batch executed or an operation completed.
	progressAt uint64
	// lastCompletion is when the last operation completed.
	lastCompletion uint64
	// statements holds every statement a correct replica signed, across its
	// restarts, and everything signed by a correct replica that correct
	// replicas relayed inside their messages.
	statements  *conflicts.Log
	signedCount int
	// seqOf is the sequence number each executed operation has in the
	// committed order; maxAccepted the highest of those (or of a state a
	// fast read was found to show) whose result a client accepted: an
	// operation a client starts later must see at least that state.
	seqOf       map[opKey]uint64
	maxAccepted uint64
	// reads are the fast reads outstanding, and history each key's kv get
	// result from every sequence number at which it changed.
	reads   map[opKey]readInfo
	history map[string][]keyState
}

// readInfo is a fast read: its key, and the state it must see at least.
type readInfo struct {
	key []byte
	lo  uint64
}

// keyState is a key's get result from seq on.
type keyState struct {
	seq uint64
	get []byte
}

func newChecker(s *Sim) *checker {
	c := &checker{
		s:          s,
		ref:        kv.New(),
		refLast:    make(map[sessionID]uint64),
		results:    make(map[opKey][]byte),
		lastExec:   make([]uint64, len(s.replicas)),
		submitted:  make(map[crypto.Digest]bool),
		statements: conflicts.New(),
		seqOf:      make(map[opKey]uint64),
		reads:      make(map[opKey]readInfo),
		history:    make(map[string][]keyState),
	}
	c.recordKeys(0)
	return c
}

// recordKeys appends to each key's history the get result it has after seq
// on the reference store, where it changed.
func (c *checker) recordKeys(seq uint64) {
	for i := range max(c.s.opts.Keys, 1) {
		key := keyName(i)
		get, err := c.ref.Query(nil, kv.EncodeGet(key))
		if err != nil {
			panic(err) // a well-formed get always answers
		}
		h := c.history[string(key)]
		if len(h) == 0 || !bytes.Equal(h[len(h)-1].get, get) {
			c.history[string(key)] = append(h, keyState{seq: seq, get: get})
		}
	}
}

// reading notes a fast read the client clientKey just started.
func (c *checker) reading(clientKey string, req *wire.Request, key []byte) {
	c.reads[opKey{clientKey, req.GetSession(), req.GetTimestamp()}] = readInfo{key: key, lo: c.maxAccepted}
}

// readState returns the earliest sequence number in [r.lo, hi] whose state
// gives the get result got for r.key, or false: a linearizable read shows
// a state no older than every operation accepted before it started, and no
// newer than what has been executed.
func (c *checker) readState(r readInfo, got []byte, hi uint64) (uint64, bool) {
	h := c.history[string(r.key)]
	for i, st := range h {
		from := max(st.seq, r.lo)
		until := hi
		if i+1 < len(h) {
			until = min(until, h[i+1].seq-1)
		}
		if from <= until && bytes.Equal(st.get, got) {
			return from, true
		}
	}
	return 0, false
}

// signed checks a message correct replica id sends, and the signed messages
// nested in it, against everything correct replicas signed before: no
// correct replica ever signs two conflicting messages, whatever crashes.
func (c *checker) signed(id int, m *wire.Message) {
	for _, st := range conflicts.Statements(m) {
		signer, ok := conflicts.Signer(st)
		if !ok || int(signer) >= len(c.s.replicas) || c.s.replicas[signer].adv.Kind != byzantine.Honest {
			continue
		}
		c.signedCount++
		if found := c.statements.Add(st); len(found) > 0 && c.s.err == nil {
			c.s.err = fmt.Errorf("SAFETY: at time %d, sent by replica %d: %s", c.s.now, id, found[0])
		}
	}
}

// evidence fails the run if r holds valid proof that a correct replica
// equivocated.
func (c *checker) evidence(id int, r *pbft.Replica) {
	for _, e := range r.Evidence() {
		if int(e.Replica) < len(c.s.replicas) && c.s.replicas[e.Replica].adv.Kind == byzantine.Honest && c.s.err == nil {
			c.s.err = fmt.Errorf("SAFETY: at time %d replica %d holds evidence that correct replica %d equivocated (%s)",
				c.s.now, id, e.Replica, conflicts.Kind(e.Second))
		}
	}
}

// executed checks the batches a correct replica just executed, and where it
// installed a snapshot instead.
func (c *checker) executed(id int, batches []pbft.Executed, restored *wire.StateSnapshot) error {
	restore := func() {
		if restored != nil && restored.GetSequence() > c.lastExec[id] {
			c.lastExec[id] = restored.GetSequence()
			c.transfers++
		}
	}
	defer restore()
	for _, ex := range batches {
		if restored != nil && ex.Sequence > restored.GetSequence() {
			restore()
		}
		if ex.Sequence != c.lastExec[id]+1 {
			return fmt.Errorf("replica %d executed sequence %d after %d: not in order", id, ex.Sequence, c.lastExec[id])
		}
		c.lastExec[id] = ex.Sequence
		c.progressAt = c.s.now
		digests := make([]crypto.Digest, len(ex.Requests))
		for i, r := range ex.Requests {
			digests[i] = pbft.RequestDigest("sim", r)
			if !c.submitted[digests[i]] {
				return fmt.Errorf("replica %d executed a request at sequence %d that no client sent", id, ex.Sequence)
			}
		}
		d := pbft.BatchDigest("sim", digests)
		if ex.Sequence > uint64(len(c.order)) {
			c.commit(ex, d)
		}
		want := c.order[ex.Sequence-1]
		if want.digest != d {
			return fmt.Errorf("SAFETY: replica %d executed batch %x at sequence %d, another correct replica executed %x",
				id, d[:4], ex.Sequence, want.digest[:4])
		}
		for i := range ex.Requests {
			if ex.Skipped[i] != want.skipped[i] {
				return fmt.Errorf("replica %d at sequence %d request %d: skipped=%v, the timestamp rule says %v",
					id, ex.Sequence, i, ex.Skipped[i], want.skipped[i])
			}
			if !bytes.Equal(ex.Results[i], want.results[i]) {
				return fmt.Errorf("replica %d at sequence %d request %d: result %q, the committed order gives %q",
					id, ex.Sequence, i, ex.Results[i], want.results[i])
			}
		}
	}
	return nil
}

// commit extends the committed order by one batch and executes it on the
// reference store.
func (c *checker) commit(ex pbft.Executed, d crypto.Digest) {
	b := committedBatch{digest: d, skipped: make([]bool, len(ex.Requests)), results: make([][]byte, len(ex.Requests))}
	var ops []statemachine.Op
	var run []int
	for i, r := range ex.Requests {
		sid := sessionID{string(r.GetClientKey()), r.GetSession()}
		if r.GetTimestamp() <= c.refLast[sid] {
			b.skipped[i] = true
			continue
		}
		c.refLast[sid] = r.GetTimestamp()
		ops = append(ops, statemachine.Op{Client: r.GetClientKey(), Session: r.GetSession(), Data: r.GetOperation()})
		run = append(run, i)
	}
	res := c.ref.Apply(ex.Sequence, ops)
	for j, i := range run {
		r := ex.Requests[i]
		k := opKey{string(r.GetClientKey()), r.GetSession(), r.GetTimestamp()}
		b.results[i] = res[j]
		c.results[k] = res[j]
		c.seqOf[k] = ex.Sequence
	}
	c.recordKeys(ex.Sequence)
	c.order = append(c.order, b)
}

// restarted notes that replica id came back from a crash having executed up
// to lastExec (what its disk let it re-execute).
func (c *checker) restarted(id int, lastExec uint64) {
	c.lastExec[id] = lastExec
}

// accepted checks a result a client accepted against the committed order.
func (c *checker) accepted(clientKey string, session uint64, res client.Result) error {
	c.completed++
	c.progressAt = c.s.now
	c.lastCompletion = c.s.now
	k := opKey{clientKey, session, res.Timestamp}
	want, ok := c.results[k]
	if r, isRead := c.reads[k]; isRead {
		delete(c.reads, k)
		if ok && bytes.Equal(want, res.Result) { // it fell back and was ordered
			c.maxAccepted = max(c.maxAccepted, c.seqOf[k])
			return nil
		}
		seq, found := c.readState(r, res.Result, uint64(len(c.order)))
		if !found {
			return fmt.Errorf("client session %d read %q for %s on the fast path: no state from sequence %d (what it started after) to %d (what was executed) gives it",
				session, res.Result, r.key, r.lo, len(c.order))
		}
		c.maxAccepted = max(c.maxAccepted, seq)
		return nil
	}
	c.maxAccepted = max(c.maxAccepted, c.seqOf[k])
	if !ok {
		return fmt.Errorf("client session %d accepted a result for timestamp %d that no correct replica executed", session, res.Timestamp)
	}
	if !bytes.Equal(want, res.Result) {
		return fmt.Errorf("client session %d accepted %q for timestamp %d; the committed order gives %q", session, res.Result, res.Timestamp, want)
	}
	return nil
}

// SettleBound is the liveness bound the simulation asserts: within the fault
// model, every operation of a run completes within this many time units
// after its last crash or partition ends (after the start when only
// Byzantine replicas, which never stop, are faulty): 20,000 plus one
// view-change timeout per operation. A primary that stalls each proposal to
// just under the timeout (the attack Aardvark names) is the slowest case PBFT
// allows; seen: 115,794 for 200 operations with T = 278 ticks, against a
// bound of 576,000. Without a slow primary runs settle within 50,000.
func SettleBound(o Options) uint64 {
	t := o.Replica.ViewChangeTicks
	if t == 0 {
		t = pbft.DefaultViewChangeTicks
	}
	return 20_000 + uint64(o.Operations)*t*o.TickEvery
}

// atEnd checks liveness where the protocol promises it, and that correct
// replicas at the same sequence number hold the same state.
func (c *checker) atEnd() error {
	digests := make(map[uint64]crypto.Digest)
	for id, n := range c.s.replicas {
		if n.adv.Kind != byzantine.Honest {
			continue
		}
		d := n.r.StateDigest()
		if prev, ok := digests[n.r.LastExecuted()]; ok && prev != d {
			return fmt.Errorf("replica %d's state digest at %d differs from another correct replica's", id, n.r.LastExecuted())
		}
		digests[n.r.LastExecuted()] = d
	}
	if !c.s.liveness() {
		return nil
	}
	if settle := c.s.now - c.s.faultsEnd; c.s.now > c.s.faultsEnd && c.lastCompletion > c.s.faultsEnd &&
		c.lastCompletion-c.s.faultsEnd > SettleBound(c.s.opts) {
		return fmt.Errorf("LIVENESS: the last operation completed %d time units after faults stopped, beyond the bound %d (run ended %d later)",
			c.lastCompletion-c.s.faultsEnd, SettleBound(c.s.opts), settle)
	}
	if c.completed < c.s.opts.Operations {
		return fmt.Errorf("LIVENESS: only %d of %d operations completed by time %d",
			c.completed, c.s.opts.Operations, c.s.now)
	}
	if err := c.s.converged(); err != nil && c.s.convergenceExpected() {
		return fmt.Errorf("CONVERGENCE: after faults stopped, %w", err)
	}
	if n := c.s.strandedCount(); n > 0 {
		// Under a Byzantine primary too: a correct replica that left it did
		// so on f+1 suspicions, on which the others join.
		return fmt.Errorf("STRANDED: after faults stopped, %d correct replicas wait for a view beyond every view a correct replica works in", n)
	}
	return nil
}
