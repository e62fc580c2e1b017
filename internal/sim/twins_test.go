package sim

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
)

// Twins suites. TestTwinsEnumeratedN4 runs every scenario of a TwinsSpace
// (n=4, one twin; BULWARK_TWINS_ROUNDS rounds, at most
// BULWARK_TWINS_PARTITIONED of them split into two or three groups;
// symmetric duplicates removed, identical runs shared); TestTwinsSampledN7
// draws BULWARK_TWINS_SAMPLES random scenarios of n=7 with two twins over one
// to six rounds. A failure prints the scenario and the command that replays
// it alone (add BULWARK_TWINS_TRACE=1 for each node's view changes as they
// happen). With -short they run 652 scenario classes (at most one round
// partitioned) and 200 samples. Long runs:
//
//	BULWARK_TWINS_PARTITIONED=3 BULWARK_TWINS_PROGRESS=10000 go test ./internal/sim -run TwinsEnumeratedN4 -v -timeout 0
//	BULWARK_TWINS_SEED=2 go test ./internal/sim -run TwinsEnumeratedN4 -v   # the same space, other network delays
//	BULWARK_TWINS_SAMPLES=100000 BULWARK_TWINS_SEED_START=1000 go test ./internal/sim -run TwinsSampledN7 -v -timeout 0

// twinsResult is what one scenario's run showed.
type twinsResult struct {
	stats Stats
	// maxView is the highest view a correct replica entered before GST.
	maxView uint64
	// caught: a correct replica holds proof that a twin equivocated.
	caught bool
	err    error
}

// runTwins runs sc.
func runTwins(sc *TwinsScenario, seed uint64) twinsResult {
	s, err := New(sc.Options(seed))
	if err != nil {
		return twinsResult{err: err}
	}
	var res twinsResult
	s.afterEvent = func() {
		if s.now >= sc.GST() {
			return
		}
		for _, n := range s.replicas {
			if n.adv.Kind == byzantine.Honest && !n.r.ViewChanging() {
				res.maxView = max(res.maxView, n.r.View())
			}
		}
	}
	res.stats, res.err = s.Run()
	for _, n := range s.replicas {
		res.caught = res.caught || n.adv.Kind == byzantine.Honest && len(n.r.Evidence()) > 0
	}
	return res
}

// twinsTally sums a suite's runs; it is shared by the workers.
type twinsTally struct {
	mu                      sync.Mutex
	runs, caught            uint64
	classes                 uint64 // scenario classes the runs stand for
	events, completed       uint64
	transfers, stranded     int
	byView                  map[uint64]int // runs by the highest view entered before GST
	byRound                 map[int]int    // runs by the latest round they consulted
	failures                []string
	progressEvery, progress uint64
	started                 time.Time
	logf                    func(string, ...any)
}

func newTwinsTally(t *testing.T) *twinsTally {
	return &twinsTally{byView: make(map[uint64]int), byRound: make(map[int]int), progressEvery: envUint(t, "BULWARK_TWINS_PROGRESS", 0), started: time.Now(), logf: t.Logf}
}

// add records a run that stands for classes scenario classes.
func (tt *twinsTally) add(res twinsResult, consulted int, classes uint64, describe func() string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.runs++
	tt.classes += classes
	tt.events += res.stats.Events
	tt.completed += uint64(res.stats.Completed)
	tt.transfers += res.stats.StateTransfers
	tt.stranded += res.stats.Stranded
	tt.byView[res.maxView]++
	if res.caught {
		tt.caught++
	}
	tt.byRound[consulted]++
	if res.err != nil && len(tt.failures) < 5 {
		tt.failures = append(tt.failures, fmt.Sprintf("%v\n  %s", res.err, describe()))
	}
	if tt.progressEvery > 0 && tt.runs%tt.progressEvery == 0 {
		tt.logf("progress: %d runs standing for %d scenario classes in %v, %d failed so far",
			tt.runs, tt.classes, time.Since(tt.started).Round(time.Second), len(tt.failures))
	}
}

func (tt *twinsTally) summary() string {
	return fmt.Sprintf("%d events, %d operations completed, %d state transfers, %d replicas stranded in a view change, %d runs in which a correct replica proved a twin equivocated; runs by the highest view entered before GST: %v, by the latest round they reached: %v; %v",
		tt.events, tt.completed, tt.transfers, tt.stranded, tt.caught, tt.byView, tt.byRound, time.Since(tt.started).Round(time.Millisecond))
}

func (tt *twinsTally) report(t *testing.T) {
	for _, f := range tt.failures {
		t.Errorf("%s", f)
	}
}

// shortOr is def, or short under -short.
func shortOr(def, short uint64) uint64 {
	if testing.Short() {
		return short
	}
	return def
}

func TestTwinsEnumeratedN4(t *testing.T) {
	rounds := int(envUint(t, "BULWARK_TWINS_ROUNDS", 6))
	sp := NewTwinsSpace(4, rounds, int(envUint(t, "BULWARK_TWINS_PARTITIONED", shortOr(2, 1))))
	seed := envUint(t, "BULWARK_TWINS_SEED", 1)
	replay := func(i uint64, sc *TwinsScenario) string {
		return fmt.Sprintf("scenario %d: %v (the same run for any choice of the rounds after r%d)\n  replay: BULWARK_TWINS_ROUNDS=%d BULWARK_TWINS_PARTITIONED=%d BULWARK_TWINS_SEED=%d BULWARK_TWINS_SCENARIO=%d go test ./internal/sim -run TwinsEnumeratedN4 -v",
			i, sc, sc.Consulted, rounds, sp.Partitioned, seed, i)
	}
	if os.Getenv("BULWARK_TWINS_SCENARIO") != "" {
		i := envUint(t, "BULWARK_TWINS_SCENARIO", 0)
		sc := sp.Scenario(i)
		if os.Getenv("BULWARK_TWINS_TRACE") != "" {
			traceTwins(t, sc, seed)
		}
		res := runTwins(sc, seed)
		t.Logf("%s\n  %+v, highest view before GST %d", replay(i, sc), res.stats, res.maxView)
		if res.err != nil {
			t.Fatal(res.err)
		}
		return
	}
	tt := newTwinsTally(t)
	var checked sync.Once
	sp.Explore(runtime.GOMAXPROCS(0), func(sc *TwinsScenario) func(TwinsRun) {
		res := runTwins(sc, seed)
		return func(run TwinsRun) {
			tt.add(res, sc.Consulted, run.Classes, func() string { return replay(run.Index, sc) })
			if run.Last > run.Index {
				checked.Do(func() {
					// A scenario that differs only in rounds the run never
					// consulted runs the same.
					other := sp.Scenario(run.Last)
					if res2 := runTwins(other, seed); res2.stats != res.stats {
						t.Errorf("%v ran %+v, but %v ran %+v", sc, res.stats, other, res2.stats)
					}
				})
			}
		}
	})
	full := NewTwinsSpace(4, rounds, rounds)
	t.Logf("Twins n=4, one twin, %d rounds, at most %d partitioned, each into two or three groups of the 5 nodes (%d partitions): space %d scenarios, %d after removing symmetric duplicates; %d runs stand for %d of them (with any number of rounds partitioned the space is %d scenarios, %d distinct); %s",
		rounds, sp.Partitioned, sp.Partitions(), sp.Size(), sp.Distinct(), tt.runs, tt.classes, full.Size(), full.Distinct(), tt.summary())
	tt.report(t)
	if !t.Failed() && tt.classes != sp.Distinct() {
		t.Fatalf("the runs stand for %d scenario classes, the space has %d", tt.classes, sp.Distinct())
	}
}

func TestTwinsSampledN7(t *testing.T) {
	samples := envUint(t, "BULWARK_TWINS_SAMPLES", shortOr(1000, 200))
	start := envUint(t, "BULWARK_TWINS_SEED_START", 1)
	tt := newTwinsTally(t)
	parallel(runtime.GOMAXPROCS(0), int(samples), func(i int) {
		seed := start + uint64(i)
		sc := RandomTwinsScenario(seed, 7, 2, 6)
		tt.add(runTwins(sc, seed), sc.Consulted, 1, func() string {
			return fmt.Sprintf("seed %d: %v\n  replay: BULWARK_TWINS_SAMPLES=1 BULWARK_TWINS_SEED_START=%d go test ./internal/sim -run TwinsSampledN7 -v", seed, sc, seed)
		})
	})
	t.Logf("Twins n=7, two twins, 1 to 6 rounds each connected or split into two or three groups of the 9 nodes: %d random scenarios from seed %d; %s",
		tt.runs, start, tt.summary())
	tt.report(t)
}

// traceTwins runs sc once more and logs every change of a node's view,
// view-change state, execution and suspicions: with BULWARK_TWINS_TRACE=1
// beside a replay command, what the scenario did, step by step.
func traceTwins(t *testing.T, sc *TwinsScenario, seed uint64) {
	s, err := New(sc.Options(seed))
	if err != nil {
		t.Fatal(err)
	}
	last := map[int]string{}
	s.afterEvent = func() {
		for i, n := range s.replicas {
			st := fmt.Sprintf("view %d changing %v exec %d susp %v", n.r.View(), n.r.ViewChanging(), n.r.LastExecuted(), n.r.Stats().Suspicions)
			if last[i] != st {
				last[i] = st
				t.Logf("t=%d node %d (%v): %s", s.now, i, n.adv.Kind, st)
			}
		}
	}
	_, err = s.Run()
	t.Logf("trace run: %v", err)
}
