package sim

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft"
)

// BenchmarkCluster measures how many client requests per second a 4-replica
// simulated cluster commits and executes, with no network (every message
// arrives one time unit later, none lost) and 64 concurrent client sessions.
// All cost is the cores' own: hashing, signing, verifying, bookkeeping.
func BenchmarkCluster(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
		real  bool
	}{
		{"batch=1/hmac", 1, false},
		{"batch=64/hmac", 64, false},
		{"batch=1/ed25519", 1, true},
		{"batch=64/ed25519", 64, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const ops = 2000
			var batches uint64
			for i := 0; b.Loop(); i++ {
				s, err := New(Options{
					Seed: uint64(i + 1), Replicas: 4, Clients: 4, Sessions: 16, Operations: ops, Keys: 64,
					RealCrypto: bc.real,
					Network:    Network{MinDelay: 1, MaxDelay: 1},
					TickEvery:  10, Deadline: 1 << 40,
					Replica: pbft.Config{
						CheckpointInterval: 64, MaxBatchSize: bc.batch, MaxInflightBatches: 4,
					},
					RetransmitTicks: 1000,
				})
				if err != nil {
					b.Fatal(err)
				}
				st, err := s.Run()
				if err != nil {
					b.Fatal(err)
				}
				if st.Completed != ops {
					b.Fatalf("%d of %d operations completed", st.Completed, ops)
				}
				batches += s.replicas[0].r.Stats().ExecutedBatches
			}
			b.ReportMetric(float64(ops*b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(ops*b.N)/float64(batches), "req/batch")
		})
	}
}
