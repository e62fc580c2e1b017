package sim

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
)

// TestSmallScopeMutation runs small-scope mutation (mutation.go) over
// BULWARK_MUTATION_SEEDS seeds from BULWARK_MUTATION_SEED_START for n=4
// and a quarter as many for n=7; every run checks safety after every event
// and liveness at its end (the Byzantine replicas never exceed f, and the
// partitions heal). With -short, 500 seeds. A failure prints its faults and
// the command that replays it:
//
//	BULWARK_MUTATION_SEEDS=1 BULWARK_MUTATION_SEED_START=S go test ./internal/sim -run 'SmallScopeMutation/n=4' -v
//	BULWARK_MUTATION_SEEDS=200000 go test ./internal/sim -run SmallScopeMutation -v -timeout 0
func TestSmallScopeMutation(t *testing.T) {
	seeds := envUint(t, "BULWARK_MUTATION_SEEDS", shortOr(4000, 500))
	start := envUint(t, "BULWARK_MUTATION_SEED_START", 1)
	t.Run("n=4", func(t *testing.T) { runMutations(t, 4, start, seeds) })
	t.Run("n=7", func(t *testing.T) { runMutations(t, 7, start, max(seeds/4, 1)) })
}

const mutationOperations = 8

func runMutations(t *testing.T, n int, start, seeds uint64) {
	var mu sync.Mutex
	var events, completed, faults, caught uint64
	hits := make([]uint64, numMutations) // faults that hit a message, by mutation
	var maxView uint64
	dropped := make(map[string]uint64)
	var failures []string
	began := time.Now()
	parallel(runtime.GOMAXPROCS(0), int(seeds), func(i int) {
		seed := start + uint64(i)
		opts, ms := RandomMutationOptions(seed, n, mutationOperations)
		s, err := New(opts)
		if err != nil {
			t.Errorf("seed %d: %v", seed, err)
			return
		}
		st, err := s.Run()
		mu.Lock()
		defer mu.Unlock()
		events += st.Events
		completed += uint64(st.Completed)
		for _, nd := range s.replicas {
			for _, f := range nd.adv.Faults {
				faults++
				if f.Hits > 0 {
					hits[f.Mutation]++
				}
			}
			if nd.adv.Kind != byzantine.Honest {
				continue
			}
			maxView = max(maxView, nd.r.View())
			if len(nd.r.Evidence()) > 0 {
				caught++
			}
			for reason, k := range nd.r.Stats().Dropped {
				dropped[reason] += k
			}
		}
		if err != nil && len(failures) < 5 {
			failures = append(failures, fmt.Sprintf("%v\n  %v, byzantine %v\n  replay: BULWARK_MUTATION_SEEDS=1 BULWARK_MUTATION_SEED_START=%d go test ./internal/sim -run 'SmallScopeMutation/n=%d' -v",
				err, ms, opts.Adversaries, seed, n))
		}
	})
	var drops []string
	for _, reason := range slices.Sorted(maps.Keys(dropped)) {
		if dropped[reason] > 0 {
			drops = append(drops, fmt.Sprintf("%s: %d", reason, dropped[reason]))
		}
	}
	var hit uint64
	var byMutation []string
	for m, k := range hits {
		hit += k
		byMutation = append(byMutation, fmt.Sprintf("%v: %d", Mutation(m), k))
	}
	t.Logf("n=%d: %d runs from seed %d, %d events, %d operations completed; %d process faults, %d of which hit a message (%v); %d correct replicas proved an equivocation; highest view %d; correct replicas dropped %v; %v",
		n, seeds, start, events, completed, faults, hit, byMutation, caught, maxView, drops, time.Since(began).Round(time.Millisecond))
	for _, f := range failures {
		t.Error(f)
	}
}
