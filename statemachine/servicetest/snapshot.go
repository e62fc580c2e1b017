package servicetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
)

func (s suite) snapshotDeterministic(t *testing.T) {
	a := s.newService()
	applyAll(t, a, 1, s.batches(6, numBatches))
	first := fingerprintOf(t, a)
	sameState(t, "second snapshot of unchanged state", fingerprintOf(t, a), first)
}

// snapshotRoundTrip restores a snapshot into an instance with other state and
// requires it to become indistinguishable from the source, now and after
// further batches.
func (s suite) snapshotRoundTrip(t *testing.T) {
	src, dst := s.newService(), s.newService()
	applyAll(t, src, 1, s.batches(7, numBatches))
	applyAll(t, dst, 1, s.batches(8, numBatches/2))
	want := fingerprintOf(t, src)

	snap := bytes.Clone(want.snap)
	if err := dst.Restore(snap); err != nil {
		t.Fatalf("Restore of a valid snapshot: %v", err)
	}
	// The caller owns snap; the service must not keep referring to it.
	for i := range snap {
		snap[i] ^= 0xff
	}
	sameState(t, "restored instance", fingerprintOf(t, dst), want)

	for i, batch := range s.batches(9, numBatches) {
		seq := uint64(numBatches + 1 + i)
		rs := apply(t, src, seq, cloneBatch(batch))
		rd := apply(t, dst, seq, cloneBatch(batch))
		what := fmt.Sprintf("batch %d after restore", i)
		sameResults(t, what, rd, rs)
		sameState(t, what, fingerprintOf(t, dst), fingerprintOf(t, src))
	}
}

// restoreReplacesState restores the initial state over a populated instance:
// Restore must replace, not merge.
func (s suite) restoreReplacesState(t *testing.T) {
	empty := fingerprintOf(t, s.newService())
	svc := s.newService()
	applyAll(t, svc, 1, s.batches(10, numBatches))
	if err := svc.Restore(bytes.Clone(empty.snap)); err != nil {
		t.Fatalf("Restore of initial snapshot: %v", err)
	}
	sameState(t, "after restoring initial state", fingerprintOf(t, svc), empty)
}

// restoreRejectsCorrupt feeds truncated, extended and garbled snapshots to an
// instance with its own state. Truncated and extended snapshots must be
// rejected; garbled ones may happen to be valid, but whenever Restore fails
// the state must be exactly as before.
func (s suite) restoreRejectsCorrupt(t *testing.T) {
	src := s.newService()
	applyAll(t, src, 1, s.batches(11, numBatches))
	good := fingerprintOf(t, src).snap

	victim := s.newService()
	applyAll(t, victim, 1, s.batches(12, numBatches/2))
	before := fingerprintOf(t, victim)

	mustFail := func(what string, snap []byte) {
		t.Helper()
		if err := victim.Restore(snap); err == nil {
			t.Fatalf("Restore accepted %s (%d bytes)", what, len(snap))
		}
		sameState(t, "after rejected "+what, fingerprintOf(t, victim), before)
	}
	mayFail := func(what string, snap []byte) {
		t.Helper()
		if err := victim.Restore(snap); err == nil {
			// Happened to be valid; put the victim back and carry on.
			if err := victim.Restore(bytes.Clone(before.snap)); err != nil {
				t.Fatalf("re-restoring victim: %v", err)
			}
			return
		}
		sameState(t, "after rejected "+what, fingerprintOf(t, victim), before)
	}

	mustFail("nil snapshot", nil)
	mustFail("empty snapshot", []byte{})
	for _, n := range prefixLengths(len(good)) {
		mustFail(fmt.Sprintf("snapshot truncated to %d bytes", n), bytes.Clone(good[:n]))
	}
	mustFail("snapshot with a trailing byte", append(bytes.Clone(good), 0))

	r := newRand(13)
	for i := range 300 {
		bad := bytes.Clone(good)
		for range 1 + r.IntN(3) {
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
		}
		mayFail(fmt.Sprintf("garbled snapshot %d", i), bad)
	}
	for i := range 100 {
		garbage := make([]byte, r.IntN(64))
		for j := range garbage {
			garbage[j] = byte(r.Uint32())
		}
		mayFail(fmt.Sprintf("random snapshot %d", i), garbage)
	}

	// A rejected restore must not have broken the instance either.
	twin := s.newService()
	if err := twin.Restore(bytes.Clone(before.snap)); err != nil {
		t.Fatalf("Restore of victim's own snapshot: %v", err)
	}
	checkSameBehaviour(t, s, victim, twin)
}

// prefixLengths lists proper-prefix lengths to try: all of them for small
// snapshots, otherwise the first 1 KiB plus an even spread.
func prefixLengths(n int) []int {
	const limit = 2048
	var out []int
	if n <= limit {
		for i := range n {
			out = append(out, i)
		}
		return out
	}
	for i := range limit / 2 {
		out = append(out, i)
	}
	step := (n - limit/2) / (limit / 2)
	for i := limit / 2; i < n; i += max(step, 1) {
		out = append(out, i)
	}
	return append(out, n-1)
}

func checkSameBehaviour(t *testing.T, s suite, a, b statemachine.Service) {
	t.Helper()
	for i, batch := range s.batches(14, numBatches/2) {
		seq := uint64(1_000_000 + i)
		sameResults(t, fmt.Sprintf("batch %d", i), apply(t, a, seq, cloneBatch(batch)), apply(t, b, seq, cloneBatch(batch)))
	}
	sameState(t, "after further batches", fingerprintOf(t, a), fingerprintOf(t, b))
}
