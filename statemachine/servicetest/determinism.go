package servicetest

import (
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
		if a.Digest() != b.Digest() {
			t.Fatalf("%s: digests diverge", what)
		}
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
		ga, ea := a.Query(bytes.Clone(op))
		gb, eb := b.Query(bytes.Clone(op))
		if (ea == nil) != (eb == nil) || string(ga) != string(gb) {
			t.Fatalf("query %d (%x): answers differ: (%x, %v) vs (%x, %v)", i, op, ga, ea, gb, eb)
		}
		sameState(t, fmt.Sprintf("after query %d", i), fingerprintOf(t, a), before)
	}
}
