package bench

import (
	"testing"
	"time"
)

// recordSteady records one success a millisecond, in view, over [from, to)
// of the measured phase of a run without warm-up.
func recordSteady(r *Recorder, from, to time.Duration, view uint64) {
	for d := from; d < to; d += time.Millisecond {
		r.Record(base.Add(d-time.Millisecond), base.Add(d), view, nil)
	}
}

func TestRecoveryStallAndReturn(t *testing.T) {
	r := NewRecorder(base, 0)
	recordSteady(r, 0, 10*time.Second, 0) // 1,000 ops/s, then nothing for 2 s
	recordSteady(r, 12*time.Second, 20*time.Second, 1)
	r.Finish(base.Add(20 * time.Second))

	rec := r.Recovery(base.Add(10*time.Second), 0)
	if rec.FaultAt != 10 || rec.PreFaultOpsPerSec != 1000 {
		t.Errorf("fault at %v s, pre-fault %v ops/s; want 10 and 1000", rec.FaultAt, rec.PreFaultOpsPerSec)
	}
	if rec.FirstCommitMS != 2000 {
		t.Errorf("first commit in a higher view after %v ms, want 2000", rec.FirstCommitMS)
	}
	// A 500 ms window starting 100 ms before the return holds 80% of the
	// rate, so a step back is seen within one tick of it.
	if rec.Back80MS < 1900 || rec.Back80MS > 2100 {
		t.Errorf("back to 80%% after %v ms, want 2000 within 100", rec.Back80MS)
	}
}

func TestRecoveryNeverReturns(t *testing.T) {
	r := NewRecorder(base, 0)
	recordSteady(r, 0, 5*time.Second, 0)
	// From 7 s on, one op every 2 ms: back at only 50% of the rate.
	for d := 7 * time.Second; d < 10*time.Second; d += 2 * time.Millisecond {
		r.Record(base.Add(d-time.Millisecond), base.Add(d), 0, nil)
	}
	r.Finish(base.Add(10 * time.Second))

	rec := r.Recovery(base.Add(5*time.Second), 0)
	if rec.Back80MS != -1 || rec.FirstCommitMS != -1 {
		t.Errorf("recovery %+v; want back_to_80pct and first_commit -1 (never)", rec)
	}
	if rec.PreFaultOpsPerSec != 1000 {
		t.Errorf("pre-fault %v ops/s, want 1000", rec.PreFaultOpsPerSec)
	}
}

func TestRecoveryFaultAtStart(t *testing.T) {
	r := NewRecorder(base, 0)
	recordSteady(r, 0, 3*time.Second, 0)
	r.Finish(base.Add(3 * time.Second))

	// In the first 100 ms there is no pre-fault rate to come back to.
	rec := r.Recovery(base.Add(50*time.Millisecond), 0)
	if rec.PreFaultOpsPerSec != 0 || rec.Back80MS != -1 {
		t.Errorf("fault in the first tick: %+v, want no pre-fault rate and -1", rec)
	}
	// Half a second in, the rate is taken over that half second; throughput
	// never dipped, so it is back at the next tick boundary.
	rec = r.Recovery(base.Add(520*time.Millisecond), 0)
	if rec.PreFaultOpsPerSec != 1000 || rec.Back80MS != 80 {
		t.Errorf("fault at 0.52 s without a dip: %+v, want 1000 ops/s and 80 ms", rec)
	}
}

func TestRecoveryWithWarmupAndUnfinished(t *testing.T) {
	const warmup = 1250 * time.Millisecond // not a whole number of ticks
	r := NewRecorder(base, warmup)
	recordSteady(r, 0, warmup+4*time.Second, 0)
	recordSteady(r, warmup+6*time.Second, warmup+9*time.Second, 3)
	// Not finished: the windows run to what was recorded.
	rec := r.Recovery(base.Add(warmup+4*time.Second), 2)
	if rec.PreFaultOpsPerSec != 1000 || rec.FirstCommitMS != 2000 || rec.Back80MS < 1900 || rec.Back80MS > 2000 {
		t.Errorf("recovery %+v, want 1000 ops/s, first commit 2000 ms, back after about 2000 ms", rec)
	}
}
