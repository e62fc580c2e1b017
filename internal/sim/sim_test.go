package sim

import (
	"os"
	"strconv"
	"testing"
)

// envUint reads a seed-range variable, so any range reruns without editing code:
// BULWARK_SIM_SEEDS=N BULWARK_SIM_SEED_START=S go test ./pbft/... -run Simulation
func envUint(t *testing.T, name string, def uint64) uint64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: not a non-negative integer", name, v)
	}
	return n
}

func runSeeds(t *testing.T, n int, defaultSeeds uint64) {
	seeds := envUint(t, "BULWARK_SIM_SEEDS", defaultSeeds)
	start := envUint(t, "BULWARK_SIM_SEED_START", 1)
	const operations = 200
	var events, completed uint64
	var restarts, transfers, stranded, signed int
	var settle uint64
	for seed := start; seed < start+seeds; seed++ {
		opts := RandomOptions(seed, n, operations)
		s, err := New(opts)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		st, err := s.Run()
		if err != nil {
			t.Fatalf("%v\nadversaries %v, outages %v, network %+v\nrerun: BULWARK_SIM_SEEDS=1 BULWARK_SIM_SEED_START=%d go test ./internal/sim -run 'Simulation/n=%d'",
				err, opts.Adversaries, opts.Outages, opts.Network, seed, n)
		}
		events += st.Events
		restarts += st.Restarts
		transfers += st.StateTransfers
		stranded += st.Stranded
		signed += st.Signed
		if !opts.BeyondF {
			settle = max(settle, st.Settle)
		}
		completed += uint64(st.Completed)
	}
	t.Logf("n=%d: %d seeds from %d, %d events, %d operations completed, %d restarts, %d state transfers, %d replicas stranded in a view change, %d statements of correct replicas checked for conflicts; operations settled at most %d time units after faults stopped (bound: 20,000 + T per operation)",
		n, seeds, start, events, completed, restarts, transfers, stranded, signed, settle)
}

func TestSimulation(t *testing.T) {
	t.Run("n=4", func(t *testing.T) { t.Parallel(); runSeeds(t, 4, 2000) })
	t.Run("n=7", func(t *testing.T) { t.Parallel(); runSeeds(t, 7, 500) })
}
