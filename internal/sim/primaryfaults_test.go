package sim

import (
	"runtime"
	"sync"
	"testing"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
)

// TestFaultyPrimaries runs each way of being a bad primary that a backup
// can only see in what the primary does not do, as replica 0 (the first
// primary) with the random runs' networks, crashes and partitions:
//
//   - slow: every pre-prepare held to just under the view-change timeout;
//     the backups' performance monitor must replace it;
//   - sluggish: held to just under the shortest delay the monitor acts on
//     (a primary that stays under any fixed threshold); it is never
//     replaced for it, and must still never stop the cluster;
//   - censor: one client key's requests left out of every batch; that
//     client's requests wait at the backups, whose suspicions replace it.
//
// Every operation of every client must complete (the censored client's
// too), the checker's invariants hold throughout, and no correct replica
// is left stranded in a view change (converged).
func TestFaultyPrimaries(t *testing.T) {
	seeds := envUint(t, "BULWARK_PRIMARY_SEEDS", shortOr(100, 20))
	for _, kind := range []byzantine.Kind{byzantine.Slow, byzantine.Sluggish, byzantine.Censor} {
		t.Run(string(kind), func(t *testing.T) {
			var mu sync.Mutex
			var settle, views uint64
			monitored := 0
			parallel(runtime.GOMAXPROCS(0), int(seeds), func(i int) {
				seed := uint64(i) + 1
				opts := RandomOptions(seed, 4, 100)
				opts.Adversaries = []Adversary{{Replica: 0, Kind: kind}}
				opts.BeyondF = len(opts.Outages) > 0 // an outage besides the primary exceeds f
				s, err := New(opts)
				if err != nil {
					t.Errorf("seed %d: %v", seed, err)
					return
				}
				st, err := s.Run()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("%v\n  outages %v, network %+v\n  rerun: BULWARK_PRIMARY_SEEDS=%d go test ./internal/sim -run 'FaultyPrimaries/%s'",
						err, opts.Outages, opts.Network, seed, kind)
					return
				}
				if !opts.BeyondF {
					settle = max(settle, st.Settle)
				}
				view, measured := uint64(0), false
				for _, n := range s.replicas {
					if n.adv.Kind == byzantine.Honest {
						view = max(view, n.r.View())
						measured = measured || n.r.Stats().SlowPrimarySuspicions > 0
					}
				}
				views = max(views, view)
				if measured {
					monitored++
				}
				// The slow primary proposes, so the timer never fires: only
				// the backups' measure of it can replace it.
				if kind == byzantine.Slow && !opts.BeyondF && (view == 0 || !measured) {
					t.Errorf("seed %d: the slow primary was not replaced by the performance monitor (view %d, monitor suspicions %v)", seed, view, measured)
				}
			})
			t.Logf("%s primary: %d seeds, operations settled at most %d time units after faults stopped, highest view %d, the performance monitor suspected it in %d seeds",
				kind, seeds, settle, views, monitored)
		})
	}
}
