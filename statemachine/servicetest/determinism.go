package servicetest

import (
	"github.com/bulwark-bft/bulwark/statemachine"

	"bytes"
	"fmt"
	"testing"
)

func (s suite) oneResultPerOp(t *testing.T) {
	svc := s.newService()
	apply(t, svc, 1, nil)
	apply(t, svc, 2, [][]byte{})
	for i, b := range s.batches(1, numBatches) {
		apply(t, svc, uint64(i+3), cloneBatch(b))
	}
}

// determinism applies the same batches to two instances and requires
// identical results and digests after every batch: the core replica property.
func (s suite) determinism(t *testing.T) {
	a, b := s.newService(), s.newService()
	sameState(t, "fresh instances", fingerprintOf(t, a), fingerprintOf(t, b))
	for i, batch := range s.batches(2, numBatches) {
		seq := uint64(i + 1)
		ra := apply(t, a, seq, cloneBatch(batch))
		rb := apply(t, b, seq, cloneBatch(batch))
		what := fmt.Sprintf("batch %d", i)
		sameResults(t, what, ra, rb)
		sameState(t, what, fingerprintOf(t, a), fingerprintOf(t, b))
	}
	sameState(t, "after all batches", fingerprintOf(t, a), fingerprintOf(t, b))
}

// applyDoesNotRetainOps scribbles over op buffers after Apply. The replica
// reuses message buffers, so a service that keeps references would silently
// diverge from one that received fresh buffers.
func (s suite) applyDoesNotRetainOps(t *testing.T) {
	a, b := s.newService(), s.newService()
	for i, batch := range s.batches(3, numBatches) {
		seq := uint64(i + 1)
		ops := cloneBatch(batch)
		apply(t, a, seq, ops)
		for _, op := range ops {
			for j := range op {
				op[j] ^= 0xff
			}
		}
		apply(t, b, seq, cloneBatch(batch))
		sameState(t, fmt.Sprintf("batch %d after scribbling over ops", i), fingerprintOf(t, a), fingerprintOf(t, b))
	}
}

// queryDoesNotMutate sends well-formed and garbage queries and requires the
// state to stay put and answers to be deterministic.
func (s suite) queryDoesNotMutate(t *testing.T) {
	a, b := s.newService(), s.newService()
	pre := s.batches(4, numBatches)
	applyAll(t, a, 1, pre)
	applyAll(t, b, 1, pre)
	before := fingerprintOf(t, a)
	r := newRand(5)
	for i := range 200 {
		var op []byte
		if i%2 == 0 {
			op = s.genOps(r)
		} else {
			op = mangle(r, s.genOps(r))
		}
		ga, ea := a.Query(clientOf(0), bytes.Clone(op))
		gb, eb := b.Query(clientOf(0), bytes.Clone(op))
		if (ea == nil) != (eb == nil) || string(ga) != string(gb) {
			t.Fatalf("query %d (%x): answers differ: (%x, %v) vs (%x, %v)", i, op, ga, ea, gb, eb)
		}
		sameState(t, fmt.Sprintf("after query %d", i), fingerprintOf(t, a), before)
	}
}

// admitIsDeterministic: a service's admission check (if it has one) gives
// the same answer for the same client and operation on every instance,
// whatever state it is in: replicas ask it at different moments.
func (s suite) admitIsDeterministic(t *testing.T) {
	fresh := s.newService()
	if _, ok := fresh.(statemachine.Admission); !ok {
		t.Skip("the service has no admission check")
	}
	busy := s.newService()
	applyAll(t, busy, 1, s.batches(6, numBatches))
	r := newRand(7)
	for i := range 200 {
		op := s.genOps(r)
		if i%3 == 0 {
			op = mangle(r, op)
		}
		client := clientOf(i)
		a := fresh.(statemachine.Admission).Admit(client, bytes.Clone(op))
		b := busy.(statemachine.Admission).Admit(client, bytes.Clone(op))
		if (a == nil) != (b == nil) {
			t.Fatalf("op %d: admitted by a fresh instance: %v; by one that applied batches: %v", i, a, b)
		}
	}
}

// refusedOpsChangeNothing: an operation the admission check refuses never
// reaches Apply at a correct replica, but one a faulty primary slipped
// through, or one admitted under an earlier version, must still leave the
// state unchanged (an error result, as Apply's contract says of refused
// ops): Admit is a check of what Apply would refuse, made early.
func (s suite) refusedOpsChangeNothing(t *testing.T) {
	svc := s.newService()
	adm, ok := svc.(statemachine.Admission)
	if !ok {
		t.Skip("the service has no admission check")
	}
	applyAll(t, svc, 1, s.batches(8, numBatches))
	seq := uint64(numBatches + 1)
	r := newRand(9)
	refused := 0
	for i := range 400 {
		op := s.genOps(r)
		if i%2 == 0 {
			op = mangle(r, op)
		}
		client := clientOf(i)
		if adm.Admit(client, bytes.Clone(op)) == nil {
			continue
		}
		refused++
		before := fingerprintOf(t, svc)
		res := svc.Apply(seq, []statemachine.Op{{Client: bytes.Clone(client), Data: op}})
		seq++
		if len(res) != 1 {
			t.Fatalf("Apply of one refused op: %d results", len(res))
		}
		sameState(t, fmt.Sprintf("after applying op %d, which Admit refused", i), fingerprintOf(t, svc), before)
	}
	t.Logf("%d of 400 operations refused by Admit, each applied without effect", refused)
}
