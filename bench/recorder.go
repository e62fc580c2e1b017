package bench

import (
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds between 1 µs and 120 s. A slower
// operation counts as 120 s: a benchmark client gives up long before that,
// and clamping keeps one outlier from being silently dropped.
const (
	minMicros = 1
	maxMicros = 120_000_000

	// latencyDigits gives the run's percentiles 0.1% precision.
	latencyDigits = 3
	// secondDigits is the precision of the per-second percentiles: 1% is
	// finer than a plot can show, and such a histogram takes 21 KB instead
	// of 144 KB, so a ten-minute run holds 13 MB of them rather than 88 MB
	// in the heap of a process that may be running the replicas too.
	secondDigits = 2

	// tick is the resolution of the completion counts behind the ops/s of
	// Progress and the recovery figure.
	tick = 100 * time.Millisecond
)

// Recorder collects the outcome of every operation of a run. It is safe for
// concurrent use by many client goroutines; one mutex is enough, since a
// record costs well under a microsecond and runs see tens of thousands of
// operations a second, not millions. Its memory grows with the run's length
// (per second and per 100 ms), never with the number of operations.
type Recorder struct {
	start    time.Time // the warm-up begins
	measured time.Time // the measured phase begins

	mu        sync.Mutex
	finished  bool
	end       time.Time
	latency   *hdrhistogram.Histogram // successful operations of the measured phase
	ops, errs int64                   // of the measured phase
	warmupOps int64                   // every operation completing before it
	seconds   []second                // the measured phase, second by second
	// ticks counts successful completions per 100 ms, warm-up included;
	// ticks[tick0] is the first 100 ms of the measured phase.
	ticks []int64
	tick0 int
	views viewIndex
	// kinds splits ops, errs and latency by OpKind.
	kinds [opKinds]kindTally
}

// second is one second of the measured phase.
type second struct {
	ops, errs int64
	latency   *hdrhistogram.Histogram // nil until the second's first success
}

// NewRecorder returns a Recorder for a run that starts at start and measures
// from start+warmup on.
func NewRecorder(start time.Time, warmup time.Duration) *Recorder {
	warmup = max(warmup, 0)
	r := &Recorder{
		start:    start,
		measured: start.Add(warmup),
		latency:  hdrhistogram.New(minMicros, maxMicros, latencyDigits),
		tick0:    int((warmup + tick - 1) / tick),
		views:    viewIndex{},
	}
	for k := range r.kinds {
		r.kinds[k].latency = hdrhistogram.New(minMicros, maxMicros, latencyDigits)
	}
	return r
}

// Record records one operation that began at begin and ended at end, in view
// (the view its replies came from; ignored when err is not nil). Operations
// are attributed to the time they complete: one completing before the
// measured phase counts only in WarmupOps, whatever it measured. After
// Finish, operations completing after its end are ignored, so clients still
// winding down do not count. Record operations that really failed only: an
// operation cancelled because the run ended is not an error of the system.
// The operation counts as a write (see RecordOp).
func (r *Recorder) Record(begin, end time.Time, view uint64, err error) {
	r.RecordOp(OpWrite, begin, end, view, err)
}

// RecordOp is Record for an operation of the given kind, which the results
// also count apart (Results.Reads and Results.Writes).
func (r *Recorder) RecordOp(kind OpKind, begin, end time.Time, view uint64, err error) {
	micros := min(max(end.Sub(begin).Microseconds(), 0), maxMicros)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished && end.After(r.end) {
		return
	}
	sinceStart := end.Sub(r.start)
	if err == nil && sinceStart >= 0 {
		r.countTick(end)
		r.views.add(view, sinceStart)
	}
	if end.Before(r.measured) {
		r.warmupOps++
		return
	}
	s := r.second(int(end.Sub(r.measured) / time.Second))
	k := &r.kinds[kind]
	if err != nil {
		r.errs++
		s.errs++
		k.errs++
		return
	}
	r.ops++
	s.ops++
	k.ops++
	if s.latency == nil {
		s.latency = hdrhistogram.New(minMicros, maxMicros, secondDigits)
	}
	// Both values are clamped into the histograms' range, which is all
	// RecordValue checks, so neither can fail.
	_ = r.latency.RecordValue(micros)
	_ = s.latency.RecordValue(micros)
	_ = k.latency.RecordValue(micros)
}

// countTick counts a success completing at end (not before start).
func (r *Recorder) countTick(end time.Time) {
	i := r.tickIndex(end)
	if i >= len(r.ticks) {
		r.ticks = append(r.ticks, make([]int64, i+1-len(r.ticks))...)
	}
	r.ticks[i]++
}

// tickIndex is the index in ticks of the 100 ms holding t (t >= start).
func (r *Recorder) tickIndex(t time.Time) int {
	d := t.Sub(r.measured)
	i := int(d / tick)
	if d < 0 && d%tick != 0 {
		i-- // round towards minus infinity, so warm-up ticks are 100 ms too
	}
	return r.tick0 + i
}

// second returns the i-th second of the measured phase, growing the series
// so that seconds without any completion are kept (as zeros) too.
func (r *Recorder) second(i int) *second {
	if i >= len(r.seconds) {
		r.seconds = append(r.seconds, make([]second, i+1-len(r.seconds))...)
	}
	return &r.seconds[i]
}

// Progress is a snapshot of a running benchmark, for a line a second.
type Progress struct {
	Elapsed   time.Duration // since the warm-up began while Warmup, since the measured phase began after
	OpsPerSec float64       // successful operations over the last full second
	P99       time.Duration // of the measured phase so far
	Ops       int64         // successful operations of the measured phase so far
	Errors    int64         // failed operations of the measured phase so far
	Warmup    bool
}

// Progress reports the run as of now.
func (r *Recorder) Progress(now time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{Warmup: now.Before(r.measured), Ops: r.ops, Errors: r.errs}
	p.Elapsed = now.Sub(r.measured)
	if p.Warmup {
		p.Elapsed = now.Sub(r.start)
	}
	if r.ops > 0 {
		p.P99 = time.Duration(r.latency.ValueAtQuantile(99)) * time.Microsecond
	}
	// The last full second is the ten 100 ms ticks before the one now is
	// in; early in the run it is what there is of them.
	if now.Before(r.start) {
		return p
	}
	last := r.tickIndex(now)
	first := max(last-10, 0)
	var ops int64
	for i := first; i < min(last, len(r.ticks)); i++ {
		ops += r.ticks[i]
	}
	if last > first {
		p.OpsPerSec = float64(ops) / (time.Duration(last-first) * tick).Seconds()
	}
	return p
}

// String gives the progress as one line, such as
// "  12.0s  ops/s 21,345  p99 14.2 ms  ops 201,233  errors 0".
func (p Progress) String() string {
	if p.Warmup {
		return fmt.Sprintf("%6.1fs  warm-up  ops/s %s", p.Elapsed.Seconds(), thousands(round(p.OpsPerSec)))
	}
	return fmt.Sprintf("%6.1fs  ops/s %s  p99 %s ms  ops %s  errors %s",
		p.Elapsed.Seconds(), thousands(round(p.OpsPerSec)), millis(float64(p.P99.Microseconds())/1000),
		thousands(p.Ops), thousands(p.Errors))
}

// Results are the figures of a run's measured phase.
type Results struct {
	Ops, Errors, WarmupOps int64
	Duration               time.Duration
	Throughput             float64     // successful ops / Duration seconds
	Latency                Percentiles // successful ops of the measured phase
	Series                 []Second
	// Reads and Writes are the figures above split by kind; Reads is all
	// zeros in a run of writes alone.
	Reads, Writes OpFigures
}

// Percentiles of latency, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Second is one second of the measured phase.
type Second struct {
	T          int     `json:"t"` // seconds since the measured phase began
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
}

// Finish ends the measured phase at end and returns its figures. Operations
// recorded afterwards that complete after end are ignored. The series has a
// Second for every second up to end, stalls included; the throughput of a
// last, partial second is taken over the part of it that was measured.
func (r *Recorder) Finish(end time.Time) Results {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished, r.end = true, end
	d := max(end.Sub(r.measured), 0)
	res := Results{
		Ops: r.ops, Errors: r.errs, WarmupOps: r.warmupOps,
		Duration: d,
		Latency:  percentiles(r.latency),
		Series:   make([]Second, 0, len(r.seconds)),
	}
	if d > 0 {
		res.Throughput = float64(r.ops) / d.Seconds()
	}
	res.Reads, res.Writes = r.kinds[OpRead].figures(d), r.kinds[OpWrite].figures(d)
	for t := 0; time.Duration(t)*time.Second < d; t++ {
		var s second
		if t < len(r.seconds) {
			s = r.seconds[t]
		}
		span := min(d-time.Duration(t)*time.Second, time.Second)
		res.Series = append(res.Series, Second{
			T: t, Ops: s.ops, Errors: s.errs,
			Throughput: float64(s.ops) / span.Seconds(),
			P50:        quantileMillis(s.latency, 50),
			P99:        quantileMillis(s.latency, 99),
		})
	}
	return res
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		P50:  quantileMillis(h, 50),
		P90:  quantileMillis(h, 90),
		P99:  quantileMillis(h, 99),
		P999: quantileMillis(h, 99.9),
		Max:  float64(h.Max()) / 1000,
		Mean: h.Mean() / 1000,
	}
}

// quantileMillis is the q-th percentile of a histogram of microseconds, in
// milliseconds; 0 for a nil or empty histogram.
func quantileMillis(h *hdrhistogram.Histogram, q float64) float64 {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return float64(h.ValueAtQuantile(q)) / 1000
}
