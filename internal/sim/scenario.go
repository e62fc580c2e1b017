package sim

import "github.com/bulwark-bft/bulwark/pbft"

// RandomOptions draws a run's faults and workload from its seed: network
// loss, duplication and delay, f random adversaries, 3 to 5 clients with 1 to
// 4 sessions each. Every 16th seed signs with real ed25519.
func RandomOptions(seed uint64, n, operations int) Options {
	rng := newRand(seed ^ 0x5eed)
	f := (n - 1) / 3
	adversaries, outages := randomFaults(seed, n, f)
	return Options{
		Seed:       seed,
		Replicas:   n,
		Clients:    3 + rng.IntN(3),
		Sessions:   1 + rng.IntN(4),
		Operations: operations,
		Keys:       1 + rng.IntN(8),
		// A quarter of the seeds read on the fast path, a quarter of their
		// operations: a replica answering reads with stale state (the
		// stale-read adversary) meets clients that read.
		ReadPercent: []int{0, 0, 0, 25}[seed%4],
		RealCrypto:  seed%16 == 0,
		Network: Network{
			DropRate:      rng.Float64() * 0.1,
			DuplicateRate: rng.Float64() * 0.1,
			MinDelay:      1,
			MaxDelay:      uint64(5 + rng.IntN(60)),
		},
		Adversaries: adversaries,
		Outages:     outages,
		BeyondF:     len(adversaries)+len(outages) > f,
		TickEvery:   10,
		Deadline:    2_000_000,
		Replica: pbft.Config{
			CheckpointInterval: uint64(4 << rng.IntN(3)),
			MaxBatchSize:       1 + rng.IntN(16),
			MaxInflightBatches: uint64(1 + rng.IntN(4)),
			StatusTicks:        5,
			ViewChangeTicks:    uint64(100 + rng.IntN(200)),
			StateChunkSize:     32 << rng.IntN(6), // several chunks per transfer
		},
		RetransmitTicks: 30,
	}
}

// randomFaults splits the seeds in three: f adversaries and no outages; k
// crashes or partitions of correct replicas (1 <= k <= f, some far longer
// than it takes the others to move past the window) with f-k adversaries;
// and, to check safety beyond the fault model, f adversaries and up to f
// outages at once, a run of which promises no liveness.
func randomFaults(seed uint64, n, f int) ([]Adversary, []Outage) {
	rng := newRand(seed ^ 0xc4a5)
	mode := rng.IntN(3)
	if mode == 0 {
		return RandomAdversaries(seed, n, f), nil
	}
	k := 1 + rng.IntN(f)
	adversaries := RandomAdversaries(seed, n, f)
	if mode == 1 {
		adversaries = adversaries[:f-k]
	}
	faulty := make(map[int]bool)
	for _, a := range adversaries {
		faulty[a.Replica] = true
	}
	var out []Outage
	for _, id := range rng.Perm(n) {
		if len(out) == k {
			break
		}
		if faulty[id] {
			continue
		}
		crash := rng.IntN(2) == 0
		out = append(out, Outage{
			Replica:  id,
			Crash:    crash,
			Torn:     crash && rng.IntN(2) == 0, // half the crashes land inside a flush
			At:       uint64(rng.IntN(5_000)),
			Duration: uint64(200 + rng.IntN(20_000)),
		})
	}
	return adversaries, out
}
