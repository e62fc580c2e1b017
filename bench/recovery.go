package bench

import (
	"time"
)

// Recovery measures how a run came through one fault.
type Recovery struct {
	FaultAt           float64 `json:"fault_at_s"`            // seconds into the measured phase
	FirstCommitMS     float64 `json:"first_commit_ms"`       // fault -> first op committed in a higher view (-1 if none)
	Back80MS          float64 `json:"back_to_80pct_ms"`      // fault -> throughput back at 80% of the pre-fault level (-1 if never)
	PreFaultOpsPerSec float64 `json:"pre_fault_ops_per_sec"` // mean over the measured phase before the fault
}

// backWindow is the span over which throughput must be back at backShare of
// its pre-fault level: long enough that a burst of operations the stall had
// held up does not count as recovery, short enough to resolve a view change.
const (
	backWindow = 500 * time.Millisecond
	backShare  = 0.8
)

// Recovery computes the recovery figure of a fault at faultAt, when the
// replicas were in view viewAtFault. All rates count successful operations
// by completion time, in the recorder's 100 ms ticks:
//
//   - The pre-fault rate is the mean over the whole ticks of the measured
//     phase before the tick the fault falls in. A fault less than a second
//     into the measured phase thus gets a rate over what little there is; one
//     within its first 100 ms gets none, and Back80MS is -1.
//   - Throughput is back at 80% at the start of the first 500 ms window (five
//     ticks; windows slide a tick at a time) that lies entirely after the
//     fault and completes at least 80% of the pre-fault rate. Back80MS is the
//     time from the fault to that start, to 100 ms; -1 if no such window
//     ends within what was recorded (up to Finish's end, once called). A
//     fault that never dented throughput gives a value under 100 ms.
//   - FirstCommitMS is the time from the fault to the first successful
//     operation in a view above viewAtFault (-1 if none), to 1 ms.
func (r *Recorder) Recovery(faultAt time.Time, viewAtFault uint64) Recovery {
	rec := Recovery{FaultAt: faultAt.Sub(r.measured).Seconds(), FirstCommitMS: -1, Back80MS: -1}
	if t, ok := r.FirstCommitAfter(faultAt, viewAtFault+1); ok {
		rec.FirstCommitMS = durationMillis(t.Sub(faultAt))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	var ticks []int64 // the measured phase's, complete ones only once finished
	if r.tick0 < len(r.ticks) {
		ticks = r.ticks[r.tick0:]
	}
	if r.finished {
		ticks = ticks[:min(len(ticks), int(max(r.end.Sub(r.measured), 0)/tick))]
	}
	fault := max(faultAt.Sub(r.measured), 0)

	before := min(int(fault/tick), len(ticks))
	if before == 0 {
		return rec
	}
	rec.PreFaultOpsPerSec = float64(sum(ticks[:before])) / (time.Duration(before) * tick).Seconds()
	if rec.PreFaultOpsPerSec == 0 {
		return rec
	}

	width := int(backWindow / tick)
	need := backShare * rec.PreFaultOpsPerSec * backWindow.Seconds()
	for s := int((fault + tick - 1) / tick); s+width <= len(ticks); s++ {
		if float64(sum(ticks[s:s+width])) >= need {
			rec.Back80MS = durationMillis(time.Duration(s)*tick - fault)
			break
		}
	}
	return rec
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

func durationMillis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// FirstCommitAfter returns the completion time of the first successful
// operation completing at or after t in view minView or higher, to within
// 1 ms; false if there is none.
func (r *Recorder) FirstCommitAfter(t time.Time, minView uint64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.views.firstAfter(max(t.Sub(r.start), 0), minView)
	return r.start.Add(d), ok
}

// viewIndex keeps, for every view and every millisecond of the run in which
// an operation of that view completed, the first and last such completion.
// That answers FirstCommitAfter to 1 ms in 8 bytes per millisecond of a
// view's life, where keeping every completion would grow with the operation
// count. Views are mostly consecutive in time, so the total stays near
// 8 KB per second of run.
type viewIndex map[uint64]*viewSlots

// viewSlots holds one view's milliseconds: slots[i] is millisecond base+i
// of the run.
type viewSlots struct {
	base  int
	slots []slot
}

// slot holds the first and last completion in a millisecond as nanoseconds
// into it plus one, so that the zero slot means no completion.
type slot struct{ first, last int32 }

// add notes a completion in view at sinceStart (>= 0) into the run.
func (x viewIndex) add(view uint64, sinceStart time.Duration) {
	ms := int(sinceStart / time.Millisecond)
	ns := int32(sinceStart%time.Millisecond) + 1
	v := x[view]
	switch {
	case v == nil:
		v = &viewSlots{base: ms, slots: make([]slot, 1)}
		x[view] = v
	case ms < v.base:
		v.slots = append(make([]slot, v.base-ms), v.slots...)
		v.base = ms
	case ms-v.base >= len(v.slots):
		v.slots = append(v.slots, make([]slot, ms-v.base+1-len(v.slots))...)
	}
	s := &v.slots[ms-v.base]
	if s.first == 0 || ns < s.first {
		s.first = ns
	}
	s.last = max(s.last, ns)
}

// firstAfter is the first completion at or after t in a view >= minView.
func (x viewIndex) firstAfter(t time.Duration, minView uint64) (time.Duration, bool) {
	var best time.Duration
	found := false
	for view, v := range x { // the minimum, so the map's order does not matter
		if view < minView {
			continue
		}
		if d, ok := v.firstAfter(t); ok && (!found || d < best) {
			best, found = d, true
		}
	}
	return best, found
}

func (v *viewSlots) firstAfter(t time.Duration) (time.Duration, bool) {
	ms := int(t / time.Millisecond)
	for i := max(ms-v.base, 0); i < len(v.slots); i++ {
		s := v.slots[i]
		if s.first == 0 {
			continue
		}
		at := time.Duration(v.base+i) * time.Millisecond
		first, last := at+time.Duration(s.first-1), at+time.Duration(s.last-1)
		switch {
		case first >= t:
			return first, true
		case last >= t:
			// Somewhere in [t, last], which lies within 1 ms of t.
			return last, true
		}
	}
	return 0, false
}
