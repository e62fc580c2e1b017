package bench

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is the fixed start of every synthetic run.
var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

var errOp = errors.New("operation failed")

// near reports whether got is within rel (a fraction) of want.
func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// at is d after the measured phase of a run with warm-up w began.
func at(w, d time.Duration) time.Time { return base.Add(w + d) }

// recordUniform records ops 1..n: op i takes i ms and completes at
// (i-1)*10 ms + 5 ms into the measured phase, in view 0 before 6 s and
// view 1 after, so every second of the first n/100 holds 100 of them.
func recordUniform(r *Recorder, warmup time.Duration, n int) {
	for i := 1; i <= n; i++ {
		end := at(warmup, time.Duration(i-1)*10*time.Millisecond+5*time.Millisecond)
		view := uint64(0)
		if end.Sub(at(warmup, 0)) >= 6*time.Second {
			view = 1
		}
		r.Record(end.Add(-time.Duration(i)*time.Millisecond), end, view, nil)
	}
}

func TestRecorderResults(t *testing.T) {
	const warmup = 2 * time.Second
	r := NewRecorder(base, warmup)
	for i := range 100 { // warm-up: counted apart, whatever their latency
		end := base.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Record(end.Add(-time.Minute), end, 0, nil)
	}
	r.Record(base, base.Add(time.Second), 0, errOp) // a warm-up error
	recordUniform(r, warmup, 1000)
	for range 7 {
		r.Record(at(warmup, 3*time.Second), at(warmup, 3500*time.Millisecond), 0, errOp)
	}

	res := r.Finish(at(warmup, 10*time.Second))
	if res.Ops != 1000 || res.Errors != 7 || res.WarmupOps != 101 {
		t.Errorf("ops %d, errors %d, warm-up %d; want 1000, 7, 101", res.Ops, res.Errors, res.WarmupOps)
	}
	if res.Duration != 10*time.Second || res.Throughput != 100 {
		t.Errorf("duration %v, throughput %v; want 10s, 100", res.Duration, res.Throughput)
	}
	l := res.Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990},
		{"p99.9", l.P999, 999}, {"max", l.Max, 1000}, {"mean", l.Mean, 500.5},
	} {
		if !near(c.got, c.want, 0.002) { // HDR with 3 significant digits
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}

	if len(res.Series) != 10 {
		t.Fatalf("series has %d seconds, want 10", len(res.Series))
	}
	for i, s := range res.Series {
		wantErrs := int64(0)
		if i == 3 {
			wantErrs = 7
		}
		if s.T != i || s.Ops != 100 || s.Errors != wantErrs || s.Throughput != 100 {
			t.Errorf("second %d = %+v, want 100 ops and %d errors", i, s, wantErrs)
		}
		// Second i holds the ops taking 100i+1 .. 100i+100 ms.
		if !near(s.P50, float64(100*i+50), 0.02) || !near(s.P99, float64(100*i+99), 0.02) {
			t.Errorf("second %d: p50 %v, p99 %v; want about %d and %d", i, s.P50, s.P99, 100*i+50, 100*i+99)
		}
	}

	// Operations recorded after Finish that complete after its end are ignored.
	r.Record(at(warmup, 10*time.Second), at(warmup, 11*time.Second), 1, nil)
	if again := r.Finish(at(warmup, 10*time.Second)); again.Ops != 1000 {
		t.Errorf("after Finish, ops became %d", again.Ops)
	}
}

func TestRecorderSeriesKeepsStallsAndPartialSecond(t *testing.T) {
	r := NewRecorder(base, 0)
	for _, d := range []time.Duration{100 * time.Millisecond, 3200 * time.Millisecond, 3400 * time.Millisecond} {
		r.Record(base.Add(d-time.Millisecond), base.Add(d), 0, nil)
	}
	res := r.Finish(base.Add(3500 * time.Millisecond))
	if len(res.Series) != 4 {
		t.Fatalf("series %+v, want 4 seconds", res.Series)
	}
	wantOps := []int64{1, 0, 0, 2}
	for i, s := range res.Series {
		if s.Ops != wantOps[i] {
			t.Errorf("second %d has %d ops, want %d", i, s.Ops, wantOps[i])
		}
	}
	if got := res.Series[3].Throughput; got != 4 { // 2 ops in the half second measured
		t.Errorf("partial last second: throughput %v, want 4", got)
	}
	if s := res.Series[1]; s.P50 != 0 || s.P99 != 0 {
		t.Errorf("a second without ops has percentiles %v, %v", s.P50, s.P99)
	}
}

func TestRecorderEmpty(t *testing.T) {
	r := NewRecorder(base, time.Second)
	res := r.Finish(base) // ended before the measured phase began
	if res.Ops != 0 || res.Duration != 0 || res.Throughput != 0 || len(res.Series) != 0 || res.Latency != (Percentiles{}) {
		t.Errorf("empty run: %+v", res)
	}
}

func TestRecorderProgress(t *testing.T) {
	const warmup = time.Second
	r := NewRecorder(base, warmup)
	// 50 ops/s during the warm-up.
	for i := range 50 {
		end := base.Add(time.Duration(i) * 20 * time.Millisecond)
		r.Record(end.Add(-time.Millisecond), end, 0, nil)
	}
	p := r.Progress(base.Add(warmup - time.Millisecond))
	if !p.Warmup || p.Elapsed != warmup-time.Millisecond || p.Ops != 0 {
		t.Errorf("warm-up progress %+v", p)
	}
	if p.OpsPerSec != 50 { // the last full second is 0 .. 0.9 s: 45 ops in 0.9 s
		t.Errorf("warm-up ops/s %v, want 50", p.OpsPerSec)
	}
	if s := p.String(); !strings.Contains(s, "warm-up") || !strings.Contains(s, "ops/s 50") {
		t.Errorf("warm-up line %q", s)
	}

	recordUniform(r, warmup, 500) // 100 ops/s for 5 s
	r.Record(at(warmup, time.Second), at(warmup, 2*time.Second), 0, errOp)
	p = r.Progress(at(warmup, 4920*time.Millisecond))
	if p.Warmup || p.Elapsed != 4920*time.Millisecond || p.Ops != 500 || p.Errors != 1 || p.OpsPerSec != 100 {
		t.Errorf("progress %+v, want 4.92s, 500 ops, 1 error, 100 ops/s", p)
	}
	if !near(p.P99.Seconds(), 0.495, 0.002) {
		t.Errorf("p99 %v, want about 495ms", p.P99)
	}
	want := "   4.9s  ops/s 100  p99 495 ms  ops 500  errors 1"
	if s := p.String(); s != want {
		t.Errorf("progress line\n%q, want\n%q", s, want)
	}
}

func TestFirstCommitAfter(t *testing.T) {
	r := NewRecorder(base, 0)
	recordUniform(r, 0, 1000) // view 1 from 6.005 s on
	// Two completions within one millisecond, and a failure that never counts.
	r.Record(base, base.Add(7010100*time.Microsecond), 1, nil)
	r.Record(base, base.Add(7010800*time.Microsecond), 1, nil)
	r.Record(base, base.Add(7011*time.Millisecond), 2, errOp)

	for _, tc := range []struct {
		after   time.Duration
		minView uint64
		want    time.Duration // -1: none
	}{
		{0, 0, 5 * time.Millisecond},
		{0, 1, 6005 * time.Millisecond},
		{5 * time.Second, 1, 6005 * time.Millisecond},
		{6005 * time.Millisecond, 1, 6005 * time.Millisecond},
		{6006 * time.Millisecond, 0, 6015 * time.Millisecond},
		{7010500 * time.Microsecond, 1, 7010800 * time.Microsecond},
		{7010900 * time.Microsecond, 1, 7015 * time.Millisecond},
		{0, 2, -1},
		{20 * time.Second, 0, -1},
		{-time.Hour, 0, 5 * time.Millisecond},
	} {
		got, ok := r.FirstCommitAfter(base.Add(tc.after), tc.minView)
		switch {
		case tc.want < 0 && ok:
			t.Errorf("FirstCommitAfter(%v, %d) = %v, want none", tc.after, tc.minView, got.Sub(base))
		case tc.want >= 0 && (!ok || !got.Equal(base.Add(tc.want))):
			t.Errorf("FirstCommitAfter(%v, %d) = %v, %v; want %v", tc.after, tc.minView, got.Sub(base), ok, tc.want)
		}
	}
}

// TestRecorderConcurrent has many clients record at once, as a run's do;
// with -race it also checks the locking.
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(base, time.Second)
	const clients, each = 8, 500
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				end := base.Add(time.Duration(c*each+i) * time.Millisecond)
				var err error
				if i%100 == 0 {
					err = errOp
				}
				r.Record(end.Add(-time.Millisecond), end, uint64(c%2), err)
				_ = r.Progress(end)
			}
		})
	}
	wg.Wait()
	res := r.Finish(base.Add(clients * each * time.Millisecond))
	if got := res.Ops + res.Errors + res.WarmupOps; got != clients*each {
		t.Errorf("%d operations recorded, want %d", got, clients*each)
	}
	if res.WarmupOps != 1000 || res.Errors != 30 {
		t.Errorf("warm-up %d, errors %d; want 1000 and 30", res.WarmupOps, res.Errors)
	}
}

func TestRecorderSplitsReadsAndWrites(t *testing.T) {
	const warmup = time.Second
	r := NewRecorder(base, warmup)
	r.RecordOp(OpRead, base, base.Add(time.Millisecond), 0, nil) // warm-up: in neither kind
	for i := range 300 {
		end := at(warmup, time.Duration(i)*10*time.Millisecond+5*time.Millisecond)
		if i%3 == 0 { // 100 reads of 2 ms
			r.RecordOp(OpRead, end.Add(-2*time.Millisecond), end, 0, nil)
		} else { // 200 writes of 20 ms
			r.Record(end.Add(-20*time.Millisecond), end, 0, nil)
		}
	}
	r.RecordOp(OpRead, at(warmup, time.Second), at(warmup, 2*time.Second), 0, errOp)
	r.RecordOp(OpWrite, at(warmup, time.Second), at(warmup, 2*time.Second), 0, errOp)
	r.RecordOp(OpWrite, at(warmup, time.Second), at(warmup, 2*time.Second), 0, errOp)

	res := r.Finish(at(warmup, 4*time.Second))
	rd, wr := res.Reads, res.Writes
	if rd.Ops != 100 || rd.Errors != 1 || rd.Throughput != 25 || !near(rd.LatencyMS.P50, 2, 0.002) || !near(rd.LatencyMS.P99, 2, 0.002) {
		t.Errorf("reads %+v, want 100 ops, 1 error, 25 ops/s, 2 ms", rd)
	}
	if wr.Ops != 200 || wr.Errors != 2 || wr.Throughput != 50 || !near(wr.LatencyMS.P50, 20, 0.002) || !near(wr.LatencyMS.P99, 20, 0.002) {
		t.Errorf("writes %+v, want 200 ops, 2 errors, 50 ops/s, 20 ms", wr)
	}
	if res.Ops != 300 || res.Errors != 3 || res.WarmupOps != 1 || !near(res.Latency.P50, 20, 0.002) {
		t.Errorf("total %d ops, %d errors, %d warm-up, p50 %v; want 300, 3, 1, 20 ms", res.Ops, res.Errors, res.WarmupOps, res.Latency.P50)
	}
}
