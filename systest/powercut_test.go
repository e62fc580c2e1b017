package systest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// powerCutProtocol keeps checkpoints frequent and the window small, so that
// garbage collection runs every few hundred milliseconds and a replica that
// was down for a moment is soon too far behind to catch up on votes alone
// and needs state transfer; a half-second view-change timeout lets the
// longer outages of a primary end in a view change.
var powerCutProtocol = bulwark.Protocol{CheckpointInterval: 16, Window: 32, MaxBatch: 64, ViewChangeTicks: 50, TickMS: 10}

// TestPowerCuts kills replica processes with SIGKILL at random instants,
// over many cycles, while clients write and read, each replica on a real
// Badger directory and recording every signed message it sends in a log of
// its own (--record-sent). Afterwards it checks that no replica ever signed
// two conflicting messages (signedAudit), that every acknowledged put is
// still there, and that the clients' history of puts, gets (mostly on the
// read-only path), deletes and compare-and-swaps on a few contended keys is
// linearizable (porcupine).
//
// A cycle picks a replica at random, lets the load run 10-160 ms, kills it,
// leaves it down 100-250 ms (one time in eight 0.6-1 s, longer than the
// view-change timeout, so a killed primary is voted out) and restarts it
// with its key and data directory. At most one replica is down at a time:
// before another replica is killed the restarted one must have rejoined
// (see rejoined); the same one may be killed again at once, while it
// recovers (state transfer, a pending view change). Frequent checkpoints
// and a small window (powerCutProtocol) make garbage collection and state
// transfer part of most cycles.
//
// A SIGKILL takes what the process held, not what the kernel held: writes
// survive it whether synced or not. Loss of unsynced writes is the
// simulator's crash model (internal/sim); here the store, the driver and the
// processes are the real ones.
//
// BULWARK_CRASH_CYCLES sets the number of cycles (default 100; allow about
// a second each with -timeout) and BULWARK_CRASH_SEED the seed of the
// schedule (which replica, when, how long down; the seed is logged, the
// timing of the load is not reproducible).
func TestPowerCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills replica processes")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBulwark(t, t.TempDir())
	t.Run("SIGKILL", func(t *testing.T) { testPowerCuts(t, bin) })
}

func envUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// startProcClusterWith is startProcCluster with the protocol parameters and
// per-replica flags given.
func startProcClusterWith(t *testing.T, bin string, proto bulwark.Protocol, extra func(dir string, id int) []string) *procCluster {
	t.Helper()
	return startProcClusterOf(t, bin, 4, proto, extra)
}

// startProcClusterOf is startProcClusterWith for n replicas.
func startProcClusterOf(t *testing.T, bin string, n int, proto bulwark.Protocol, extra func(dir string, id int) []string) *procCluster {
	t.Helper()
	ports, err := testnet.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := testnet.WriteTestnet(dir, testnet.Loopback(len(ports)), ports, proto)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	pc := &procCluster{t: t, bin: bin, path: path, c: c, extra: make(map[int][]string), procs: make([]*replicaProc, n)}
	for id := range n {
		pc.extra[id] = extra(dir, id)
	}
	t.Cleanup(pc.cleanup)
	for id := range n {
		pc.start(id)
	}
	return pc
}

// ackedPuts writes fresh keys and remembers every put the cluster
// acknowledged.
type ackedPuts struct {
	mu       sync.Mutex
	acked    map[string]string
	unacked  int
	failures []string
}

func (a *ackedPuts) worker(ctx context.Context, cl *bulwark.Client, w int, timeout, pause time.Duration) {
	for n := 0; ctx.Err() == nil; n++ {
		k, v := fmt.Sprintf("ack-%d-%d", w, n), fmt.Sprintf("v%d.%d", w, n)
		octx, cancel := context.WithTimeout(ctx, timeout)
		r, err := kvDo(octx, cl, kv.EncodePut([]byte(k), []byte(v)), false)
		cancel()
		a.mu.Lock()
		switch {
		case err != nil:
			a.unacked++
		case r.Status != kv.StatusOK:
			a.failures = append(a.failures, fmt.Sprintf("put %s: status %v", k, r.Status))
		default:
			a.acked[k] = v
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(rand.N(pause)):
		}
	}
}

func (a *ackedPuts) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

func testPowerCuts(t *testing.T, bin string) {
	cycles := int(envUint(t, "BULWARK_CRASH_CYCLES", 100))
	seed := envUint(t, "BULWARK_CRASH_SEED", uint64(time.Now().UnixNano()))
	t.Logf("%d SIGKILL cycles, seed %d (BULWARK_CRASH_SEED=%d repeats the schedule)", cycles, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	began := time.Now()

	sentLog := func(dir string, id int) string { return filepath.Join(dir, fmt.Sprintf("sent-%d.log", id)) }
	metricsPorts, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := make([]string, 4)
	for id, port := range metricsPorts {
		metricsURL[id] = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	}
	pc := startProcClusterWith(t, bin, powerCutProtocol, func(dir string, id int) []string {
		return []string{"--record-sent", sentLog(dir, id), "--metrics", fmt.Sprintf("127.0.0.1:%d", metricsPorts[id])}
	})
	dir := filepath.Dir(pc.path)
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(max(cycles, 60))*2*time.Second+2*time.Minute)
	defer cancel()
	pc.clientOp(ctx, "ok", "put", "first", "1")

	// The load: workers on a few contended keys (the linearizability
	// history) and workers writing fresh keys (the acknowledged puts).
	const (
		linWorkers, putWorkers, linKeys = 4, 4, 5
		opTimeout                       = 20 * time.Second
	)
	linClient, putClient := pc.dial(ctx, 2*linWorkers), pc.dial(ctx, 2*putWorkers)
	hist := newKVHistory()
	puts := &ackedPuts{acked: make(map[string]string)}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var load sync.WaitGroup
	for w := range linWorkers {
		load.Go(func() { hist.kvWorker(lctx, linClient, w, linKeys, seed, opTimeout, 10*time.Millisecond) })
	}
	for w := range putWorkers {
		load.Go(func() { puts.worker(lctx, putClient, w, opTimeout, 10*time.Millisecond) })
	}

	// Each replica's state comes from its --metrics endpoint: a scrape on
	// loopback costs a millisecond, where a Status query over libp2p sets up
	// a host and connections every time.
	httpClient := &http.Client{Timeout: 300 * time.Millisecond}
	defer httpClient.CloseIdleConnections()
	gaugesOf := func() []replicaGauges {
		gs := make([]replicaGauges, 4)
		for id := range gs {
			gs[id] = scrapeGauges(httpClient, metricsURL[id])
		}
		return gs
	}
	// rejoined waits until replica id, restarted, answers, is in the
	// others' view and not changing views, and has executed at least what
	// the others had when it came back: only then may another replica go
	// down without leaving fewer than 2f+1 working ones. A replica that
	// waits in a higher view than the others moved there on f+1 suspicions
	// its VIEW-CHANGE carries, and the others join on them within a message
	// or a Status period; one still waiting alone after strandGrace is
	// stranded (counted, and the test fails), and the cycles go on.
	const strandGrace = 2 * time.Second
	var satOut int
	rejoined := func(id int) (took time.Duration, primary uint64) {
		start := time.Now()
		var alone time.Time // when it was first seen waiting alone in a higher view
		var target uint64
		for {
			gs := gaugesOf()
			// The others' view: of those not themselves waiting for a
			// view change.
			view, others, active := uint64(0), uint64(0), 0
			for j, g := range gs {
				if j != id && g.up && !g.changing {
					view, others = max(view, g.view), max(others, g.lastExecuted)
					active++
				}
			}
			if target == 0 && active >= 2 {
				target = others
			}
			g := gs[id]
			switch {
			case time.Since(start) > 30*time.Second:
				t.Fatalf("replica %d did not rejoin within 30s (it must reach %d executed in view %d): %+v", id, target, view, gs)
			case active < 2: // the others are changing views themselves
			case g.up && !g.changing && g.view == view && g.lastExecuted >= target:
				return time.Since(start), view % 4
			case g.up && g.changing && g.view > view && alone.IsZero():
				alone = time.Now()
			case g.up && g.changing && g.view > view && time.Since(alone) > strandGrace:
				satOut++
				t.Logf("replica %d waits alone for view %d (the others are in view %d), executed %d, stable checkpoint %d",
					id, g.view, view, g.lastExecuted, g.stable)
				return time.Since(start), view % 4
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	kills := make([]int, 4)
	var primaryKills, recoveryKills, longOutages int
	var rejoinTotal, rejoinMax time.Duration
	transfers := make([]float64, 4) // state transfers, summed over incarnations
	equivocations := make([]float64, 4)
	// tally adds the counters of an incarnation of replica id about to end.
	tally := func(id int, g replicaGauges) {
		transfers[id] += g.stateTransfers
		equivocations[id] += g.equivocations
	}
	prev, primary := -1, uint64(0)
	for cycle := range cycles {
		victim := rng.IntN(4)
		switch {
		case prev < 0:
		case victim == prev:
			recoveryKills++ // again, while it may still be recovering
		default:
			d, p := rejoined(prev)
			rejoinTotal += d
			rejoinMax = max(rejoinMax, d)
			primary = p
		}
		time.Sleep(time.Duration(10+rng.IntN(150)) * time.Millisecond) // load runs meanwhile
		// The counters of the incarnation about to die.
		tally(victim, scrapeGauges(httpClient, metricsURL[victim]))
		pc.kill(victim)
		kills[victim]++
		if uint64(victim) == primary {
			primaryKills++
		}
		down := time.Duration(100+rng.IntN(150)) * time.Millisecond
		if rng.IntN(8) == 0 { // long enough for a killed primary to be voted out
			down = time.Duration(600+rng.IntN(400)) * time.Millisecond
			longOutages++
		}
		time.Sleep(down)
		pc.start(victim)
		prev = victim
		if (cycle+1)%10 == 0 || cycle+1 == cycles {
			t.Logf("cycle %d/%d after %v: kills per replica %v, %d acknowledged puts, %s",
				cycle+1, cycles, time.Since(began).Round(time.Millisecond), kills, puts.count(), hist.summary())
		}
	}
	rejoined(prev)
	cyclesDone := time.Now()
	stopLoad()
	load.Wait()

	// Everything back: all four agree, then every acknowledged put reads
	// back and the contended keys' final values join the history.
	convergeStart := time.Now()
	nextLog := convergeStart
	var strandedSince time.Time
	nudges := 0
	for poke := 0; ; poke++ {
		gs := gaugesOf()
		same := true
		for _, g := range gs {
			same = same && g.up && !g.changing && g.view == gs[0].view && g.lastExecuted == gs[0].lastExecuted
		}
		if same {
			t.Logf("converged %v after the load stopped, %d pokes", time.Since(convergeStart).Round(time.Millisecond), poke)
			break
		}
		// A replica whose timer fired alone waits in a higher view until the
		// others change views, as PBFT prescribes; it keeps up by state
		// transfer meanwhile. The protocol's way out is the next view
		// change, so if one stays stranded, crash the others' primary (one
		// fault, within f) and let the view change bring all four together.
		if id, view, ok := strandedAlone(gs); !ok {
			strandedSince = time.Time{}
		} else if strandedSince.IsZero() {
			strandedSince = time.Now()
		} else if time.Since(strandedSince) > 5*time.Second && nudges < 3 {
			victim := int(gs[(id+1)%4].view % 4)
			t.Logf("replica %d waits alone for view %d: crashing replica %d, primary of view %d, so the others change views too",
				id, view, victim, gs[(id+1)%4].view)
			tally(victim, scrapeGauges(httpClient, metricsURL[victim]))
			pc.kill(victim)
			time.Sleep(time.Second) // past the 500 ms view-change timeout
			pc.start(victim)
			nudges++
			strandedSince = time.Time{}
		}
		if time.Now().After(nextLog) {
			t.Logf("converging, %v: %+v", time.Since(convergeStart).Round(time.Millisecond), gs)
			nextLog = nextLog.Add(2 * time.Second)
		}
		if time.Since(convergeStart) > 60*time.Second {
			t.Fatalf("no agreement 60s after the load stopped: %+v", gs)
		}
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = kvDo(pctx, putClient, kv.EncodePut([]byte("poke"), []byte(strconv.Itoa(poke))), false)
		pcancel()
		time.Sleep(100 * time.Millisecond)
	}
	sts := pc.waitStatus(ctx, "all four replicas in agreement", 10*time.Second,
		func(sts []replicaStatus) bool { return converged(sts, 0, 1, 2, 3) }, nil)
	t.Logf("after the cycles: view %d, last executed %d, stable checkpoint %d", sts[0].View, sts[0].LastExecuted, sts[0].StableCheckpoint)
	for id, g := range gaugesOf() {
		tally(id, g)
	}
	// Every replica here is correct: none may ever hold proof that another
	// equivocated.
	for id, n := range equivocations {
		if n > 0 {
			t.Errorf("replica %d counted %v equivocations by correct replicas", id, n)
		}
	}
	hist.finalReads(ctx, t, linClient, linKeys, opTimeout)
	puts.mu.Lock()
	if len(puts.failures) > 0 {
		t.Errorf("puts answered wrongly:\n%s", strings.Join(puts.failures, "\n"))
	}
	verifyAcked(ctx, t, putClient, puts.acked)
	puts.mu.Unlock()

	// The processes stop (SIGTERM); then their sent logs are complete.
	pc.cleanup()
	audit := auditSentLogs(t, pc, func(id int) string { return sentLog(dir, id) })
	if len(audit.problems) > 0 {
		t.Errorf("%d problems in what the replicas signed, the first:\n%s", len(audit.problems),
			strings.Join(audit.problems[:min(len(audit.problems), 20)], "\n"))
	}

	t.Logf("history: %s", hist.summary())
	checkLinearizable(t, "powercuts", hist.operations(t), time.Minute)

	rejoinMean := time.Duration(0)
	if n := cycles - recoveryKills; n > 0 {
		rejoinMean = rejoinTotal / time.Duration(n)
	}
	t.Logf("summary: %d SIGKILL cycles in %v (%v in all): kills per replica %v, %d of the primary, %d again during recovery, %d down long; %d times a restarted replica waited alone in a higher view; state transfers per replica %v; "+
		"rejoin mean %v, max %v; %d acknowledged puts verified (%d unacknowledged); %d distinct signed messages checked, %d conflicts",
		cycles, cyclesDone.Sub(began).Round(time.Millisecond), time.Since(began).Round(time.Millisecond), kills, primaryKills, recoveryKills, longOutages, satOut, transfers,
		rejoinMean.Round(time.Millisecond), rejoinMax.Round(time.Millisecond), len(puts.acked), puts.unacked, audit.verified, audit.conflicts)
	// A replica's timer firing alone raises a suspicion that binds it to
	// nothing, so no correct replica should ever wait alone in a higher
	// view (before suspicions: 2-8% of the cycles).
	if satOut > 0 || nudges > 0 {
		t.Errorf("a replica waited alone in a higher view %d times during the cycles and %d times at the end", satOut, nudges)
	}
}

// verifyAcked reads every acknowledged key back (read-only gets, ordered
// when the replies disagree) and fails on a value that is missing or wrong.
func verifyAcked(ctx context.Context, t *testing.T, cl *bulwark.Client, acked map[string]string) {
	t.Helper()
	keys := make(chan string)
	var mu sync.Mutex
	var lost []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				r, err := kvDo(ctx, cl, kv.EncodeGet([]byte(k)), true)
				if err != nil || r.Status != kv.StatusOK || string(r.Value) != acked[k] {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s: want %q, got %v %q (%v)", k, acked[k], r.Status, r.Value, err))
					mu.Unlock()
				}
			}
		})
	}
	for k := range acked {
		keys <- k
	}
	close(keys)
	wg.Wait()
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%d of %d acknowledged puts lost, the first:\n%s", len(lost), len(acked), strings.Join(lost[:min(len(lost), 20)], "\n"))
	}
}

// replicaGauges is what a replica's metrics say of its state.
type replicaGauges struct {
	up                         bool
	view, lastExecuted, stable uint64
	changing                   bool
	stateTransfers             float64
	equivocations              float64
}

// scrapeGauges reads a replica's gauges from its /metrics; up is false when
// it does not answer.
func scrapeGauges(client *http.Client, url string) replicaGauges {
	resp, err := client.Get(url)
	if err != nil {
		return replicaGauges{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return replicaGauges{}
	}
	g := replicaGauges{up: true}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.HasPrefix(name, "bulwark_") {
			continue
		}
		_, value, ok := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !ok || err != nil {
			continue
		}
		switch name {
		case "bulwark_view":
			g.view = uint64(v)
		case "bulwark_last_executed":
			g.lastExecuted = uint64(v)
		case "bulwark_stable_checkpoint":
			g.stable = uint64(v)
		case "bulwark_view_changing":
			g.changing = v == 1
		case "bulwark_state_transfers_total":
			g.stateTransfers = v
		case "bulwark_equivocations_total":
			g.equivocations = v
		}
	}
	return g
}

// strandedAlone reports the replica, if any, that waits alone in a view
// change to a higher view while the other three agree on a view they run.
func strandedAlone(gs []replicaGauges) (id int, view uint64, ok bool) {
	for i, g := range gs {
		if !g.up || !g.changing {
			continue
		}
		others := true
		for j, o := range gs {
			if j != i {
				others = others && o.up && !o.changing && o.view == gs[(i+1)%len(gs)].view && o.view < g.view
			}
		}
		if others {
			return i, g.view, true
		}
	}
	return 0, 0, false
}

func TestStrandedAlone(t *testing.T) {
	g := func(view uint64, changing bool) replicaGauges {
		return replicaGauges{up: true, view: view, changing: changing}
	}
	if id, v, ok := strandedAlone([]replicaGauges{g(21, false), g(21, false), g(22, true), g(21, false)}); !ok || id != 2 || v != 22 {
		t.Fatalf("a lone replica in view change 22: %d %d %v", id, v, ok)
	}
	for _, gs := range [][]replicaGauges{
		{g(21, false), g(21, false), g(21, false), g(21, false)}, // converged
		{g(22, true), g(22, true), g(21, false), g(21, false)},   // two changing: the view change is under way
		{g(21, false), g(20, false), g(22, true), g(21, false)},  // the others disagree
	} {
		if id, _, ok := strandedAlone(gs); ok {
			t.Fatalf("%+v: replica %d reported stranded", gs, id)
		}
	}
}
