package sim

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft"
)

// TestLongRunStaysBounded runs 100,000 operations through a 4-replica
// cluster over a lossy network and asserts, every 16 events, that what each
// replica retains is bounded by the window: log slots, checkpoints,
// snapshots, and their bytes, which must not grow with the run's length.
func TestLongRunStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long run")
	}
	const (
		ops    = 100_000
		k      = 32
		window = 2 * k
	)
	s, err := New(Options{
		Seed: 42, Replicas: 4, Clients: 4, Sessions: 16, Operations: ops, Keys: 256,
		Network:   Network{DropRate: 0.01, DuplicateRate: 0.01, MinDelay: 1, MaxDelay: 20},
		TickEvery: 10, Deadline: 1 << 40,
		Replica:         pbft.Config{CheckpointInterval: k, MaxBatchSize: 32, MaxInflightBatches: 4},
		RetransmitTicks: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	var peakEarly, peakLate int
	s.afterEvent = func() {
		if s.stats.Events%16 != 0 { // a sample keeps the run fast; growth cannot hide between samples
			return
		}
		for id, n := range s.replicas {
			rt := n.r.Retained()
			if rt.Slots > window || rt.Snapshots > window/k+2 || rt.Checkpoints > 2*(window/k+1)+len(s.replicas) {
				t.Fatalf("replica %d retains %+v with a window of %d", id, rt, window)
			}
			if s.check.completed < ops/10 {
				peakEarly = max(peakEarly, rt.Bytes)
			} else {
				peakLate = max(peakLate, rt.Bytes)
			}
		}
	}
	st, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	if st.Completed != ops {
		t.Fatalf("%d of %d operations completed", st.Completed, ops)
	}
	// Retained bytes after the first tenth of the run stay within twice the
	// peak of that tenth: they depend on the window, not on history.
	if peakLate > 2*peakEarly {
		t.Fatalf("retained bytes grew from a peak of %d in the first 10%% to %d later", peakEarly, peakLate)
	}
	t.Logf("%d operations, %d events; peak retained bytes per replica: %d early, %d late", ops, st.Events, peakEarly, peakLate)
}
