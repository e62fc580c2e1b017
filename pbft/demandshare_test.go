package pbft

import (
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// perKey counts a batch's requests by client key.
func perKey(pp *wire.PrePrepare) map[string]int {
	n := map[string]int{}
	for _, req := range pp.GetRequests() {
		n[string(req.GetClientKey())]++
	}
	return n
}

// Into a batch that goes out with none in flight a key takes as many
// requests as the least demanding other key has queued and in flight, not
// only a sixteenth of a batch (2 here): two clients of many sessions each
// get all they asked for into one round, while beside a light client a
// flood takes no more than that client asks for. A batch that would join
// others in flight still holds each key at a sixteenth, so two floods that
// ask each other's demand fill one batch, not the pipeline.
func TestKeysTakeWhatTheOthersAskIntoABatchWithNoneInFlight(t *testing.T) {
	cases := []struct {
		name         string
		a, b         int // requests queued by two keys while batch 1 is in flight
		wantA, wantB int // of them in batch 2
	}{
		{"two busy clients", 8, 8, 8, 8},
		{"a flood beside a light client", 100, 3, 3, 3},
		{"two floods", 100, 100, 16, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 32, 4 })
			a, b := c.scheme.NewSigner("key-a"), c.scheme.NewSigner("key-b")
			must(t, c.fromClient(0, requestFrom(a, 1000, "first")))
			first := batchesOf(c.take(&wire.Message_PrePrepare{}))
			if len(first) != 1 {
				t.Fatalf("%d batches for one request with nothing in flight, want 1", len(first))
			}
			for s := range uint64(max(tc.a, tc.b)) {
				if int(s) < tc.a {
					must(t, c.fromClient(0, requestFrom(a, s, "a")))
				}
				if int(s) < tc.b {
					must(t, c.fromClient(0, requestFrom(b, s, "b")))
				}
			}
			if more := batchesOf(c.take(&wire.Message_PrePrepare{})); len(more) != 0 {
				t.Fatalf("batch 1 in flight: %d more batches, want none until it executes", len(more))
			}
			next := batchesOf(c.completeBatch(first[0]))
			if len(next) != 1 {
				t.Fatalf("batch 1 executed and the primary proposed %d batches, want 1: beside one in flight each key is held at a sixteenth", len(next))
			}
			got := perKey(next[0])
			if got[string(a.PublicKey())] != tc.wantA || got[string(b.PublicKey())] != tc.wantB {
				t.Fatalf("batch 2 holds %d of key a's %d and %d of key b's %d requests, want %d and %d",
					got[string(a.PublicKey())], tc.a, got[string(b.PublicKey())], tc.b, tc.wantA, tc.wantB)
			}
		})
	}
}

// The two keys last served keep count of their requests executed in their
// last batch, which interleaves keys: what a closed-loop client between
// requests is about to ask for again (countDemand).
func TestRecentKeysCountTheirLastBatch(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	r := c.reps[0]
	a, b := c.scheme.NewSigner("key-a"), c.scheme.NewSigner("key-b")
	for i, s := range []crypto.Signer{a, b, a, b, a} {
		r.executedAtPrimary(requestFrom(s, uint64(i), "x"), 5)
	}
	r.executedAtPrimary(requestFrom(b, 9, "x"), 6)
	want := [2]recentKey{{key: string(b.PublicKey()), seq: 6, n: 1}, {key: string(a.PublicKey()), seq: 5, n: 3}}
	if r.recent != want {
		t.Fatalf("recent keys %+v, want %+v", r.recent, want)
	}
}
