package sim

import (
	"os"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft"
)

// callgrindOps is the number of client operations TestCallgrindCluster
// commits; docs/perf-instructions.sh divides the instruction count by it.
const callgrindOps = 2000

// TestCallgrindCluster is one fixed, deterministic cluster run (seed 1, 4
// replicas, real ed25519, batches of up to 64, no network faults) for
// docs/perf-instructions.sh to count instructions of under valgrind: a
// figure that repeats where wall-clock throughput varies by tens of
// percent. It runs only when BULWARK_CALLGRIND is set.
func TestCallgrindCluster(t *testing.T) {
	if os.Getenv("BULWARK_CALLGRIND") == "" {
		t.Skip("run by docs/perf-instructions.sh under valgrind")
	}
	s, err := New(Options{
		Seed: 1, Replicas: 4, Clients: 4, Sessions: 16, Operations: callgrindOps, Keys: 64,
		RealCrypto: os.Getenv("BULWARK_CALLGRIND") != "hmac",
		Network:    Network{MinDelay: 1, MaxDelay: 1},
		TickEvery:  10, Deadline: 1 << 40,
		Replica: pbft.Config{
			CheckpointInterval: 64, MaxBatchSize: 64, MaxInflightBatches: 4,
		},
		RetransmitTicks: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	if st.Completed != callgrindOps {
		t.Fatalf("%d of %d operations completed", st.Completed, callgrindOps)
	}
	t.Logf("%d operations, %d batches at replica 0, %d events", st.Completed, s.replicas[0].r.Stats().ExecutedBatches, st.Events)
}
