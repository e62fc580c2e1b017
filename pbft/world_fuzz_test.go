package pbft

import (
	"fmt"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// The fuzz targets of this package step replicas with messages recorded
// from a small honest cluster run (the "world"): validly signed, so the
// fuzzer starts past signature checks, and consistent, so what a replica
// executes can be checked against what the world committed.

const (
	fuzzN       = 4
	fuzzCluster = "fuzz"
)

// fuzzConfig is replica id's configuration in every fuzz target: small
// windows, chunks and limits so a short input reaches checkpoints, state
// transfer, view changes and every bound.
func (w *fuzzWorld) config(id uint32) Config {
	return Config{
		ClusterID: fuzzCluster, ID: id, Replicas: w.pubs, Signer: w.signers[id], Verifier: w.scheme, Service: kv.New(),
		CheckpointInterval: 2, WindowSize: 4, MaxBatchSize: 2, MaxInflightBatches: 2, MaxSessions: 4,
		MaxOperationSize: 256, MaxQueuedRequests: 16, StatusTicks: 2, ResendLimit: 4,
		StateChunkSize: 48, MaxStateSize: 4096, ViewChangeTicks: 8, MaxFutureViews: 4,
	}
}

// fuzzEntry is one message of the world, and who sent it.
type fuzzEntry struct {
	from From
	msg  *wire.Message
}

// fuzzWorld is the record of one deterministic honest run.
type fuzzWorld struct {
	scheme  *cryptotest.Scheme
	signers []crypto.Signer
	pubs    []crypto.PublicKey
	clients []crypto.Signer

	pool  []fuzzEntry    // every distinct message sent to a replica
	index map[string]int // pool index by sender and encoding

	// traces[i] is a FuzzReplica input replaying what replica i received
	// (its target byte is i, its Byzantine replica (i+1) mod n).
	traces [][]byte
	// committed is the batch digest some replica executed at each sequence
	// number; stateAt the state digest of each checkpoint. The world is
	// honest, so they are the only ones a correct replica may reach.
	committed map[uint64]crypto.Digest
	stateAt   map[uint64]crypto.Digest
	// stores[i] is replica i's disk, written by the persistence rule.
	stores []*MemStore
	// stats are the replicas' counters at the end, for TestFuzzWorld.
	stats []Stats
	views []uint64
	execs []uint64
}

var (
	fuzzWorldOnce sync.Once
	theFuzzWorld  *fuzzWorld
	fuzzWorldErr  error
)

// world returns the recorded run, made once per process.
func world(tb testing.TB) *fuzzWorld {
	tb.Helper()
	fuzzWorldOnce.Do(func() { theFuzzWorld, fuzzWorldErr = recordWorld() })
	if fuzzWorldErr != nil {
		tb.Fatal(fuzzWorldErr)
	}
	return theFuzzWorld
}

// Trace ops: see FuzzReplica.
const (
	opTick    = 0
	opDeliver = 1
	opForge   = 2
	opRaw     = 3
	opRelay   = 4
)

// worldRun is the world while it is being recorded.
type worldRun struct {
	w          *fuzzWorld
	reps       []*Replica
	persisters []*Persister
	pending    []struct {
		from From
		to   int
		msg  *wire.Message
	}
	cut    []bool // cut off: nothing from or to it is delivered
	trace  [][]byte
	ticks  []int // ticks not yet written to the trace, per replica
	nextTS []uint64
	err    error
}

func recordWorld() (*fuzzWorld, error) {
	w := &fuzzWorld{scheme: cryptotest.NewScheme(11), index: make(map[string]int),
		committed: make(map[uint64]crypto.Digest), stateAt: make(map[uint64]crypto.Digest)}
	for i := range fuzzN {
		w.signers = append(w.signers, w.scheme.NewSigner(fmt.Sprintf("replica-%d", i)))
		w.pubs = append(w.pubs, w.signers[i].PublicKey())
	}
	for i := range 2 {
		w.clients = append(w.clients, w.scheme.NewSigner(fmt.Sprintf("client-%d", i)))
	}
	run := &worldRun{w: w, cut: make([]bool, fuzzN), trace: make([][]byte, fuzzN), ticks: make([]int, fuzzN),
		nextTS: make([]uint64, len(w.clients))}
	for i := range fuzzN {
		r, err := New(w.config(uint32(i)))
		if err != nil {
			return nil, err
		}
		store := NewMemStore()
		p, _, err := OpenPersister(store, uint32(i))
		if err != nil {
			return nil, err
		}
		run.reps, run.persisters, w.stores = append(run.reps, r), append(run.persisters, p), append(w.stores, store)
		run.trace[i] = []byte{byte(i), 0} // target i, Byzantine (i+1) mod n
	}
	key := 0
	put := func(client int) {
		key++
		run.request(client, kv.EncodePut([]byte{'k', byte('0' + key%3)}, []byte(fmt.Sprint(key))))
	}
	// Replica 3 is cut off while the others run far past its window.
	run.cut[3] = true
	for range 6 {
		put(0)
		put(1)
		run.round()
	}
	// It comes back and catches up by state transfer.
	run.cut[3] = false
	for range 16 {
		run.round()
	}
	// The primary is cut off with a request outstanding: a view change.
	run.cut[0] = true
	put(0)
	for range 40 {
		run.round()
	}
	run.cut[0] = false
	for range 6 {
		put(1)
		run.round()
	}
	for range 12 {
		run.round()
	}
	if run.err != nil {
		return nil, run.err
	}
	for i, r := range run.reps {
		run.flushTicks(i)
		w.traces = append(w.traces, run.trace[i])
		w.stats = append(w.stats, r.Stats())
		w.views = append(w.views, r.View())
		w.execs = append(w.execs, r.LastExecuted())
	}
	return w, nil
}

// request sends the client's next put to every replica.
func (run *worldRun) request(client int, op []byte) {
	run.nextTS[client]++
	req := &wire.Request{ClientKey: run.w.clients[client].PublicKey(), Session: uint64(client), Timestamp: run.nextTS[client], Operation: op}
	SignRequest(run.w.clients[client], fuzzCluster, req)
	for i := range run.reps {
		run.queue(FromClient(req.GetClientKey()), i, &wire.Message{Content: &wire.Message_Request{Request: req}})
	}
	run.deliver()
}

func (run *worldRun) queue(from From, to int, m *wire.Message) {
	run.pending = append(run.pending, struct {
		from From
		to   int
		msg  *wire.Message
	}{from, to, m})
}

// round ticks every replica once and delivers what follows.
func (run *worldRun) round() {
	for i, r := range run.reps {
		run.ticks[i]++
		r.Tick()
		run.collect(i)
	}
	run.deliver()
}

func (run *worldRun) deliver() {
	for len(run.pending) > 0 {
		p := run.pending[0]
		run.pending = run.pending[1:]
		if run.cut[p.to] || p.from.Replica >= 0 && run.cut[p.from.Replica] {
			continue
		}
		idx := run.w.add(p.from, p.msg)
		run.flushTicks(p.to)
		run.trace[p.to] = append(run.trace[p.to], opDeliver, byte(idx>>8), byte(idx))
		_ = run.reps[p.to].Step(p.from, proto.Clone(p.msg).(*wire.Message))
		run.collect(p.to)
	}
}

// flushTicks writes replica i's pending ticks to its trace, up to 32 per op.
func (run *worldRun) flushTicks(i int) {
	for run.ticks[i] > 0 {
		k := min(run.ticks[i], 32)
		run.trace[i] = append(run.trace[i], byte((k-1)<<3|opTick))
		run.ticks[i] -= k
	}
}

// collect carries out replica i's Ready: queues its messages, records
// what it executed and persisted.
func (run *worldRun) collect(i int) {
	rd := run.reps[i].Ready()
	w := run.w
	for _, ex := range rd.Executed {
		d, _ := digestOf(ex.PrePrepare.GetDigest())
		if prev, ok := w.committed[ex.Sequence]; ok && prev != d && run.err == nil {
			run.err = fmt.Errorf("the fuzz world is unsafe: two batches at %d", ex.Sequence)
		}
		w.committed[ex.Sequence] = d
	}
	if err := run.persisters[i].Persist(rd); err != nil && run.err == nil {
		run.err = fmt.Errorf("replica %d: %w", i, err)
	}
	for _, env := range rd.Messages {
		if cp := env.Msg.GetCheckpoint(); cp != nil {
			d, _ := digestOf(cp.GetStateDigest())
			w.stateAt[cp.GetSequence()] = d
		}
		switch env.To {
		case ToClient:
		case Broadcast:
			for j := range run.reps {
				if j != i {
					run.queue(FromReplica(uint32(i)), j, env.Msg)
				}
			}
		default:
			run.queue(FromReplica(uint32(i)), env.To, env.Msg)
		}
	}
}

// add returns the pool index of (from, m), adding it if new.
func (w *fuzzWorld) add(from From, m *wire.Message) int {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	k := fmt.Sprintf("%d/%x/%x", from.Replica, from.Client, b)
	if i, ok := w.index[k]; ok {
		return i
	}
	w.index[k] = len(w.pool)
	w.pool = append(w.pool, fuzzEntry{from: from, msg: proto.Clone(m).(*wire.Message)})
	return len(w.pool) - 1
}

// newReplica is a fresh replica id of the world's cluster.
func (w *fuzzWorld) newReplica(tb testing.TB, id uint32) *Replica {
	r, err := New(w.config(id))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestFuzzWorld checks that the recorded world reaches what the fuzz seeds
// are meant to start from: checkpoints, a state transfer, a view change
// and every message kind, and that it is the same on every run (the
// committed corpora index its pool).
func TestFuzzWorld(t *testing.T) {
	w := world(t)
	if w.stats[3].StateTransfers == 0 {
		t.Error("replica 3 caught up without a state transfer")
	}
	for i, v := range w.views {
		if v == 0 {
			t.Errorf("replica %d is still in view 0", i)
		}
	}
	if len(w.committed) < 8 || len(w.stateAt) < 4 {
		t.Errorf("%d sequence numbers executed, %d checkpoints", len(w.committed), len(w.stateAt))
	}
	kinds := make(map[string]bool)
	for _, e := range w.pool {
		kinds[fmt.Sprintf("%T", e.msg.GetContent())] = true
	}
	for _, m := range []any{&wire.Message_Request{}, &wire.Message_PrePrepare{}, &wire.Message_Prepare{}, &wire.Message_Commit{},
		&wire.Message_Checkpoint{}, &wire.Message_Status{}, &wire.Message_FetchState{}, &wire.Message_StateChunk{},
		&wire.Message_ViewChange{}, &wire.Message_NewView{}} {
		if !kinds[fmt.Sprintf("%T", m)] {
			t.Errorf("no %T in the world", m)
		}
	}
	again, err := recordWorld()
	if err != nil {
		t.Fatal(err)
	}
	if len(again.pool) != len(w.pool) {
		t.Fatalf("a second recording has %d messages, the first %d", len(again.pool), len(w.pool))
	}
	for i := range w.pool {
		if !proto.Equal(w.pool[i].msg, again.pool[i].msg) || w.pool[i].from != again.pool[i].from {
			t.Fatalf("message %d differs between two recordings", i)
		}
	}
	// Replaying a trace brings a fresh replica exactly where the world's got.
	for i, tr := range w.traces {
		fz := newReplicaFuzz(t, w, uint32(i), uint32(i+1)%fuzzN)
		fz.run(tr[2:])
		if fz.r.LastExecuted() != w.execs[i] || fz.r.View() != w.views[i] || fz.r.Stats().StateTransfers != w.stats[i].StateTransfers {
			t.Errorf("replaying replica %d's trace: executed %d in view %d, the world's got to %d in view %d", i,
				fz.r.LastExecuted(), fz.r.View(), w.execs[i], w.views[i])
		}
	}
	// With any other replica forging messages around its own, every replica
	// still gets as far, and has proof of the equivocations.
	for i := range uint32(fuzzN) {
		for byz := range uint32(fuzzN) {
			if byz == i {
				continue
			}
			fz := newReplicaFuzz(t, w, i, byz)
			fz.run(forgingTrace(w, i, byz, 3)[2:])
			if fz.r.LastExecuted() != w.execs[i] || fz.r.Stats().Equivocations == 0 {
				t.Errorf("replica %d with %d forging: executed %d (the world's %d), %d equivocations", i, byz,
					fz.r.LastExecuted(), w.execs[i], fz.r.Stats().Equivocations)
			}
		}
	}
	// Restarting from what a replica persisted brings it back as far.
	for i, store := range w.stores {
		_, d, err := OpenPersister(store.Clone(), uint32(i))
		if err != nil {
			t.Fatalf("loading replica %d's store: %v", i, err)
		}
		r, err := Restart(w.config(uint32(i)), d)
		if err != nil {
			t.Fatalf("restarting replica %d: %v", i, err)
		}
		if r.LastExecuted() != w.execs[i] || r.View() != w.views[i] {
			t.Errorf("replica %d restarted at %d in view %d, was at %d in view %d", i, r.LastExecuted(), r.View(), w.execs[i], w.views[i])
		}
	}
	t.Logf("world: %d messages, %d executed, traces of %d/%d/%d/%d bytes", len(w.pool), len(w.committed),
		len(w.traces[0]), len(w.traces[1]), len(w.traces[2]), len(w.traces[3]))
}
