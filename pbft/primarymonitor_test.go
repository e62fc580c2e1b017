package pbft

import (
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// TestSlowPrimaryRule: a window is slow only when its propose delay is
// long against the baseline and the primary ordered much less than
// recently; either alone is what a correct primary does under a flood (long
// delays, high throughput) or when clients send less (short delays, low
// throughput).
func TestSlowPrimaryRule(t *testing.T) {
	cfg := Config{}.withDefaults()
	m := perfMonitor{recent: []windowPerf{{1, 100, 10_000}, {2, 120, 12_000}, {1, 90, 9_000}}}
	for _, tc := range []struct {
		name string
		w    windowPerf
		slow bool
	}{
		{"as before", windowPerf{1, 110, 11_000}, false},
		{"slow and starving", windowPerf{40, 10, 1_000}, true},
		{"long delays, throughput as before (a flood being ordered)", windowPerf{40, 200, 20_000}, false},
		{"few requests, proposed at once (less load)", windowPerf{1, 10, 1_000}, false},
		{"few requests, delay under the floor", windowPerf{cfg.MinProposeDelayTicks, 10, 1_000}, false},
		{"few but large requests (bytes as before)", windowPerf{40, 10, 12_000}, false},
		{"just under half the requests and bytes, delayed", windowPerf{40, 59, 5_999}, true},
		{"half the requests, delayed", windowPerf{40, 60, 5_999}, false},
	} {
		if got := m.slow(tc.w, cfg); got != tc.slow {
			t.Errorf("%s: slow = %v, want %v", tc.name, got, tc.slow)
		}
	}
	// Without a baseline only a delay of a quarter of T counts.
	cold := &perfMonitor{recent: m.recent[:perfMinWindows-1]}
	if cold.slow(windowPerf{40, 1, 1}, cfg) {
		t.Error("suspected a delay of 40 ticks with fewer than perfMinWindows windows of history")
	}
	if !cold.slow(windowPerf{cfg.ViewChangeTicks/4 + 1, 1, 1}, cfg) {
		t.Error("no baseline, and a delay over T/4 was not suspected")
	}
}

// requestOf is a signed request of session s.
func (c *testCluster) requestOf(s uint64, op []byte) *wire.Request {
	req := &wire.Request{ClientKey: c.client.PublicKey(), Session: s, Timestamp: c.nextTS, Operation: op}
	c.nextTS++
	SignRequest(c.client, "test", req)
	return req
}

// runWindows drives backup 1 through windows of the primary's behaviour:
// perWindow requests, each held from its client, and pre-prepared delay
// ticks later, all in one batch per window; replica 1's other messages
// are discarded.
func (c *testCluster) runWindows(windows, perWindow int, delay uint64, seq *uint64, session *uint64) {
	c.t.Helper()
	r := c.reps[1]
	for range windows {
		start := r.ticks
		var batch []*wire.Request
		for range perWindow {
			req := c.requestOf(*session, kv.EncodePut([]byte("k"), []byte("v")))
			*session++
			must(c.t, c.fromClient(1, req))
			batch = append(batch, req)
		}
		for range delay {
			r.Tick()
		}
		*seq++
		must(c.t, c.step(0, 1, ppMsg(c.prePrepareAt(*seq, batch...))))
		for r.ticks-start < r.cfg.PerformanceWindowTicks {
			r.Tick()
		}
		c.pending, c.replies = nil, nil
		_ = r.Ready()
	}
}

// A backup measures the primary: a primary that goes from proposing at once
// to proposing late and little, while the backup always holds requests it
// has not ordered, is suspected; one that proposes late but as much (a
// backlog it works through) is not.
func TestBackupSuspectsASlowPrimary(t *testing.T) {
	// Every window holds its requests until the batch is proposed, plus one
	// request held throughout (session 0, never proposed), so there is
	// always work waiting.
	for _, tc := range []struct {
		name           string
		perWindow      int
		delay          uint64
		wantSuspicions bool
	}{
		{"late and little", 2, 40, true},
		{"late but as much", 20, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize = 64 })
			r := c.reps[1]
			must(t, c.fromClient(1, c.requestOf(1<<20, kv.EncodePut([]byte("w"), []byte("aiting")))))
			var seq, session uint64
			c.runWindows(perfMinWindows+1, 20, 1, &seq, &session)
			if n := r.Stats().SlowPrimarySuspicions; n != 0 {
				t.Fatalf("suspected a primary proposing at once: %d", n)
			}
			c.runWindows(3, tc.perWindow, tc.delay, &seq, &session)
			if got := r.Stats().SlowPrimarySuspicions > 0; got != tc.wantSuspicions {
				t.Fatalf("suspected: %v, want %v (%d suspicions)", got, tc.wantSuspicions, r.Stats().SlowPrimarySuspicions)
			}
			// A suspicion binds nobody: alone, replica 1 stays in view 0.
			if r.View() != 0 || r.ViewChanging() {
				t.Fatalf("replica 1 left view 0 on its own suspicion: view %d, changing %v", r.View(), r.ViewChanging())
			}
			if tc.wantSuspicions && !r.suspecting {
				t.Fatal("the slow-primary suspicion did not stand")
			}
		})
	}
}

// signedBy is a signed request of session s from the client key of signer.
func (c *testCluster) signedBy(signer crypto.Signer, s uint64) *wire.Request {
	req := &wire.Request{ClientKey: signer.PublicKey(), Session: s, Timestamp: c.nextTS, Operation: kv.EncodePut([]byte("k"), []byte("v"))}
	c.nextTS++
	SignRequest(signer, "test", req)
	return req
}

// A flood from one key waits long at a correct primary by design (it is
// held at its share while other keys are served): the backup judges the
// delay per key, so the flood's many requests are one voice and the primary
// is not suspected. A primary that delays every key is.
func TestBackupJudgesProposeDelayPerKey(t *testing.T) {
	for _, tc := range []struct {
		name           string
		otherWaits     bool // the other key's requests wait as long as the flood's
		wantSuspicions bool
	}{
		{"the flood waits, the other key does not", false, false},
		{"every key waits", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize = 64 })
			r := c.reps[1]
			flood := c.scheme.NewSigner("flood")
			// Held throughout, never proposed: there is always work waiting.
			must(t, c.fromClient(1, c.requestOf(1<<20, kv.EncodePut([]byte("w"), []byte("aiting")))))
			wait := r.cfg.ViewChangeTicks/4 + 10 // slow without a baseline
			var seq, session uint64
			for range perfMinWindows + 1 {
				start := r.ticks
				var batch []*wire.Request
				for range 10 {
					session++
					req := c.signedBy(flood, session)
					must(t, c.fromClient(1, req))
					batch = append(batch, req)
				}
				held := func() {
					for range 2 {
						session++
						req := c.requestOf(session, kv.EncodePut([]byte("k"), []byte("v")))
						must(t, c.fromClient(1, req))
						batch = append(batch, req)
					}
				}
				if tc.otherWaits {
					held()
				}
				for range wait {
					r.Tick()
				}
				if !tc.otherWaits {
					held()
					r.Tick()
				}
				seq++
				must(t, c.step(0, 1, ppMsg(c.prePrepareAt(seq, batch...))))
				for r.ticks-start < r.cfg.PerformanceWindowTicks {
					r.Tick()
				}
				c.pending, c.replies = nil, nil
				_ = r.Ready()
			}
			if got := r.Stats().SlowPrimarySuspicions > 0; got != tc.wantSuspicions {
				t.Fatalf("suspected: %v, want %v (%d suspicions)", got, tc.wantSuspicions, r.Stats().SlowPrimarySuspicions)
			}
		})
	}
}

// Keys that flood a correct primary wait behind their own backlog, however
// fairly it serves them: with most keys flooding, their median requests
// waited long although the primary served every key in every batch (the
// SessionFlood attack: 25 keys of 4,096 sessions made every primary look
// slow in turn). A backup counts a request's wait from the last pre-prepare
// that served its key, so a primary serving every key each batch is not
// suspected, and one that serves each key rarely still is.
func TestBackupJudgesAFloodingKeyByItsService(t *testing.T) {
	const keys, backlog = 3, 60
	for _, tc := range []struct {
		name           string
		every, share   int // a batch every so many ticks, with share requests of each key
		wantSuspicions bool
	}{
		{"every key served each tick", 1, 1, false},
		{"each key served every 25 ticks", 25, 12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Without a baseline a median wait above T/4 (20 ticks) is slow.
			c := newTestCluster(t, 4, func(cfg *Config) {
				cfg.MaxBatchSize, cfg.CheckpointInterval, cfg.ViewChangeTicks = 64, 64, 80
			})
			r := c.reps[1]
			// Held throughout, never proposed: there is always work waiting.
			must(t, c.fromClient(1, c.requestOf(1<<20, kv.EncodePut([]byte("w"), []byte("aiting")))))
			fifos := make([][]*wire.Request, keys)
			for k := range fifos {
				flood := c.scheme.NewSigner(fmt.Sprintf("flood-%d", k))
				for s := range uint64(backlog) {
					req := c.signedBy(flood, s)
					must(t, c.fromClient(1, req))
					fifos[k] = append(fifos[k], req)
				}
			}
			var seq uint64
			for tick := 1; tick <= int(r.cfg.PerformanceWindowTicks); tick++ {
				r.Tick()
				if tick%tc.every != 0 {
					continue
				}
				var batch []*wire.Request
				for k := range fifos {
					n := min(tc.share, len(fifos[k]))
					batch = append(batch, fifos[k][:n]...)
					fifos[k] = fifos[k][n:]
				}
				if len(batch) == 0 {
					continue
				}
				seq++
				must(t, c.step(0, 1, ppMsg(c.prePrepareAt(seq, batch...))))
				c.pending, c.replies = nil, nil
				_ = r.Ready()
			}
			r.Tick() // the window ends
			if got := r.Stats().SlowPrimarySuspicions > 0; got != tc.wantSuspicions {
				t.Fatalf("suspected: %v, want %v (%d suspicions)", got, tc.wantSuspicions, r.Stats().SlowPrimarySuspicions)
			}
		})
	}
}

// A new primary answers for its own view: a request a backup held through
// the old view waited for the new primary only since the view began.
// Counted from its arrival, every request an overloaded primary left behind
// made its successor look slow at once, and the next, and the next.
func TestNewPrimaryIsJudgedFromTheViewsStart(t *testing.T) {
	c := suspectedOverHeldRequest(t)
	r := c.reps[2]
	heldSince := r.ticks // held from tick 0
	for range 200 {
		c.deliver(withoutPrimary)
		if r.View() == 1 && !r.ViewChanging() {
			break
		}
		for i := 1; i < 4; i++ {
			c.reps[i].Tick()
			c.collect(i)
		}
	}
	if r.View() != 1 || r.ViewChanging() {
		t.Fatalf("setup: replica 2 in view %d, changing %v; want view 1 started", r.View(), r.ViewChanging())
	}
	if r.perf.ndelays == 0 {
		t.Fatal("setup: replica 2 measured no propose delay in view 1")
	}
	inView := r.ticks - r.viewEnteredAt + 1
	for _, ds := range r.perf.delays {
		for _, d := range ds {
			if d > inView {
				t.Errorf("propose delay %d ticks, more than the %d ticks since view 1 began (held %d ticks)", d, inView, heldSince)
			}
		}
	}
}
