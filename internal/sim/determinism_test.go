package sim

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft"
)

// TestSeedReplaysTheSameRun: a seed is a run, so a failure's rerun command
// reproduces it. The same options run twice must send the same messages in
// the same order at the same virtual times (a replica that iterates a map
// where the order shows in what it sends breaks this: the core's batch
// fetches did, and replays of failing seeds diverged).
func TestSeedReplaysTheSameRun(t *testing.T) {
	// Seeds whose runs fetch several batches at once, where the old map
	// order showed within a few runs; each runs three times.
	for _, c := range []struct {
		n    int
		seed uint64
	}{{4, 3}, {4, 36}, {4, 43}, {4, 78}, {7, 1}, {7, 2}} {
		opts := RandomOptions(c.seed, c.n, 100)
		first := runTrace(t, opts)
		for run := 2; run <= 3; run++ {
			again := runTrace(t, opts)
			for i := range max(len(first), len(again)) {
				if i >= len(first) || i >= len(again) || first[i] != again[i] {
					t.Fatalf("seed %d (n=%d), run %d: the runs part at message %d (%d and %d sent)", c.seed, c.n, run, i, len(first), len(again))
				}
			}
		}
	}
}

// runTrace runs opts and returns a digest of each envelope sent, with its
// sender and virtual time.
func runTrace(t *testing.T, opts Options) [][32]byte {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out [][32]byte
	s.onRoute = func(from int, env pbft.Envelope) {
		out = append(out, sha256.Sum256(fmt.Appendf(nil, "%d %d %d %s %v", s.now, from, env.To, env.Client, env.Msg)))
	}
	_, _ = s.Run()
	return out
}
