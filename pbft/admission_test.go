package pbft

import (
	"errors"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// requestFrom is signer's signed request in session.
func requestFrom(signer crypto.Signer, session uint64, op string) *wire.Request {
	req := &wire.Request{ClientKey: signer.PublicKey(), Session: session, Timestamp: 1, Operation: []byte(op)}
	SignRequest(signer, "test", req)
	return req
}

// A client key flooding the primary delays its own requests only: keys are
// served round-robin, so another key's request goes into the next batch,
// not behind the flood.
func TestFloodingKeyDelaysOnlyItself(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 4, 1 })
	flood := c.scheme.NewSigner("flooder")
	for s := range uint64(200) {
		must(t, c.fromClient(0, requestFrom(flood, s, "flood")))
	}
	other := c.request([]byte("legitimate"))
	must(t, c.fromClient(0, other))
	next := c.take(&wire.Message_PrePrepare{})
	for batch := 1; ; batch++ {
		if len(next) == 0 {
			t.Fatal("the primary stopped proposing")
		}
		pp := next[0].msg.GetPrePrepare()
		for _, req := range pp.GetRequests() {
			if string(req.GetClientKey()) == string(other.GetClientKey()) {
				if batch > 2 {
					t.Fatalf("the other key's request went into batch %d, behind the flood", batch)
				}
				return
			}
		}
		next = c.completeBatch(pp) // so the next one goes out
	}
}

// The bytes of requests a replica holds for one client key are bounded:
// past its share it refuses (counted), and another key is still served.
func TestHeldRequestsAreBoundedPerClient(t *testing.T) {
	op := make([]byte, 5000) // above the least a held request costs (minHeldCost)
	size := 0
	c := newTestCluster(t, 4, func(cfg *Config) {
		size = maxRequestSize(len(op))
		cfg.MaxOperationSize, cfg.MaxHeldBytesPerClient, cfg.MaxHeldBytes = len(op), 3*size, 6*size
	})
	flood := c.scheme.NewSigner("flooder")
	refused := 0
	for s := range uint64(5) {
		if err := c.fromClient(2, requestFrom(flood, s, string(op))); errors.Is(err, ErrQueueFull) {
			refused++
		} else {
			must(t, err)
		}
	}
	if refused != 2 {
		t.Fatalf("%d of 5 requests of %d bytes refused with a share of 3", refused, size)
	}
	must(t, c.fromClient(2, c.request(op)))
	if got := c.reps[2].Stats().Dropped[ErrQueueFull.Error()]; got != 2 {
		t.Fatalf("%d drops counted, want 2", got)
	}
}

// Small requests count at least minHeldCost each: a key cannot make a
// replica hold more sessions than its share allows by sending tiny ones.
func TestHeldSmallRequestsAreBoundedPerClient(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) {
		cfg.MaxOperationSize, cfg.MaxHeldBytesPerClient, cfg.MaxHeldBytes = 100, 3*minHeldCost, 6*minHeldCost
	})
	flood := c.scheme.NewSigner("flooder")
	accepted := 0
	for s := range uint64(10) {
		if c.fromClient(2, requestFrom(flood, s, "x")) == nil {
			accepted++
		}
	}
	if accepted != 3 {
		t.Fatalf("%d of 10 tiny requests held with a share of 3 x %d bytes", accepted, minHeldCost)
	}
}

// Under contention, beside a batch in flight, a key takes at most its
// in-flight share, a sixteenth of a batch, counted with the requests of the
// batch being taken: two keys that both flood send no batch of their own
// while the first is in flight (their requests arrive one by one, the first
// goes out alone), so a third key's next request never waits behind a
// pipeline of theirs. (A batch that goes out with none in flight may carry
// more of them: TestKeysTakeWhatTheOthersAskIntoABatchWithNoneInFlight.)
func TestInflightShareBoundsEachKeysPartOfABatch(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 32, 4 })
	a, b := c.scheme.NewSigner("flooder-a"), c.scheme.NewSigner("flooder-b")
	for s := range uint64(100) {
		must(t, c.fromClient(0, requestFrom(a, s, "a")))
		must(t, c.fromClient(0, requestFrom(b, s, "b")))
	}
	share := max(32/16, 1)
	pps := c.take(&wire.Message_PrePrepare{})
	if len(pps) == 0 {
		t.Fatal("the primary proposed nothing")
	}
	if b := batchesOf(pps); len(b) != 1 || len(b[0].GetRequests()) != 1 {
		t.Fatalf("%d batches while the first was in flight, the first of %d requests; want the first alone", len(b), len(b[0].GetRequests()))
	}
	for _, pp := range pps {
		per := map[string]int{}
		for _, req := range pp.msg.GetPrePrepare().GetRequests() {
			per[string(req.GetClientKey())]++
		}
		for key, n := range per {
			if n > share {
				t.Fatalf("a batch holds %d requests of one key (%x...) while another key waits; its share is %d", n, key[:4], share)
			}
		}
	}
}

// A key at its share of held bytes is refused before its signature is
// checked, at the primary too: a flood beyond the share costs no
// verification, and a forged request beyond it is dropped for the share,
// unchecked.
func TestRequestsBeyondTheShareAreDroppedUnverified(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) {
		cfg.MaxOperationSize, cfg.MaxHeldBytesPerClient, cfg.MaxHeldBytes = 100, 3*minHeldCost, 6*minHeldCost
		cfg.MaxBatchSize, cfg.MaxInflightBatches = 1, 1 // the primary keeps them held
	})
	flood := c.scheme.NewSigner("flooder")
	for s := range uint64(3) {
		must(t, c.fromClient(0, requestFrom(flood, s, "x")))
	}
	checked := c.reps[0].Stats().ClientSignaturesChecked
	beyond := requestFrom(flood, 3, "x")
	beyond.Signature[0] ^= 0x80 // forged: dropped for the share, not checked
	if err := c.fromClient(0, beyond); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a request beyond the key's share: %v, want ErrQueueFull", err)
	}
	if got := c.reps[0].Stats().ClientSignaturesChecked; got != checked {
		t.Fatalf("%d client signatures checked for a request beyond the share", got-checked)
	}
	if c.reps[0].forging(string(flood.PublicKey())) {
		t.Fatal("penalised for a signature it never checked")
	}
}

// The in-flight share holds a key back only for another key: a lone client
// with many sessions fills whole batches, and two keys are each held at
// their share. (Counted as contended because it was not yet at its share, a
// lone key had its batches cut at its share, and the bench's 32-session
// client got half of its requests into each round of agreement.)
func TestInflightShareHoldsAKeyOnlyForAnother(t *testing.T) {
	const share = 2
	take := func(keys ...string) map[string]int {
		var a admission
		for _, k := range keys {
			for s := range uint64(32) {
				a.push(queued{key: sessionKey{client: k, session: s}, size: 10}, 64, 1024)
			}
		}
		taken := map[string]int{}
		usable := func(queued) bool { return true }
		busy := func(k string, u inflightUse) bool { return u.requests >= share }
		batch := a.take(32, 1<<20, usable, busy, func(string) bool { return false })
		for _, q := range batch {
			taken[q.key.client]++
		}
		return taken
	}
	if got := take("lone")["lone"]; got != 32 {
		t.Errorf("a lone key got %d requests into a batch of 32; want all 32: nobody else waits", got)
	}
	for k, n := range take("a", "b") {
		if n != share {
			t.Errorf("with two keys queued, key %s got %d requests into the batch; want its share, %d", k, n, share)
		}
	}
}

// A key served within the last few batches still counts as active: a
// closed-loop client's next request arrives just after its last one
// executed, and a flood that arrives in between is held at its share
// rather than filling the pipeline ahead of it. Once the other key has been
// quiet for that many batches, the flood fills whole batches.
func TestRecentlyServedKeyKeepsTheFloodAtItsShare(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 32, 1 })
	must(t, c.fromClient(0, c.request([]byte("legitimate"))))
	c.deliver(nil)
	if c.reps[0].LastExecuted() != 1 {
		t.Fatalf("the legitimate request did not execute: last executed %d", c.reps[0].LastExecuted())
	}
	flood := c.scheme.NewSigner("flooder")
	for s := range uint64(400) {
		must(t, c.fromClient(0, requestFrom(flood, s, "flood")))
	}
	share := 32 / 16
	next := c.take(&wire.Message_PrePrepare{})
	for len(next) > 0 {
		pp := next[0].msg.GetPrePrepare()
		n, quiet := len(pp.GetRequests()), pp.GetSequence()-2 // batches since the other key's executed
		switch recent := quiet <= c.reps[0].recentBatches(); {
		case recent && n > share:
			t.Fatalf("batch %d, %d batches after the other key was served: %d flood requests, want at most its share %d", pp.GetSequence(), quiet, n, share)
		case !recent && n < 32:
			t.Fatalf("batch %d, the other key quiet for %d batches: %d flood requests, want a full batch of 32", pp.GetSequence(), quiet, n)
		case !recent:
			return
		}
		next = c.completeBatch(pp)
	}
	t.Fatal("the primary stopped proposing")
}

// completeBatch has replica 0's batch pp prepared, committed and executed
// everywhere, and returns the pre-prepares of the batches that then go out,
// undelivered, for the caller to inspect.
func (c *testCluster) completeBatch(pp *wire.PrePrepare) []sent {
	for i := 1; i < len(c.reps); i++ {
		must(c.t, c.step(0, i, ppMsg(pp)))
	}
	var next []sent
	c.deliver(func(s sent) bool {
		if isKind(s, &wire.Message_PrePrepare{}) {
			next = append(next, s)
			return true
		}
		return false
	})
	return next
}

// While batches are in flight the primary proposes another only when a
// whole one is ready to go, not counting a flood held at its share: the
// flood's long queue made it send each request that arrived meanwhile in a
// batch of its own, until tiny batches filled the pipeline.
func TestHeldFloodDoesNotFillThePipelineWithTinyBatches(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 32, 4 })
	must(t, c.fromClient(0, c.request([]byte("first"))))
	first := batchesOf(c.take(&wire.Message_PrePrepare{}))
	if len(first) != 1 {
		t.Fatalf("%d batches for one request with nothing in flight, want 1", len(first))
	}
	// Batch 1 in flight; a flood arrives, its share (2) is all it may
	// take, and other keys' requests trickle in.
	flood := c.scheme.NewSigner("flooder")
	for s := range uint64(100) {
		must(t, c.fromClient(0, requestFrom(flood, s, "flood")))
	}
	for i := range 3 {
		must(t, c.fromClient(0, requestFrom(c.scheme.NewSigner(string(rune('a'+i))), 0, "legitimate")))
	}
	if more := batchesOf(c.take(&wire.Message_PrePrepare{})); len(more) != 0 {
		t.Fatalf("batch 1 in flight, 5 requests to take beside a held flood: %d more batches (the first of %d requests), want none until a batch fills or one executes",
			len(more), len(more[0].GetRequests()))
	}
	next := batchesOf(c.completeBatch(first[0]))
	if len(next) == 0 {
		t.Fatal("batch 1 executed and the primary proposed nothing")
	}
	got := 0
	for _, req := range next[0].GetRequests() {
		if string(req.GetOperation()) == "legitimate" {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("the next batch carries %d of the 3 waiting requests", got)
	}
}

// batchesOf is the distinct pre-prepares among sent, by sequence number.
func batchesOf(sent []sent) []*wire.PrePrepare {
	var out []*wire.PrePrepare
	seen := map[uint64]bool{}
	for _, s := range sent {
		pp := s.msg.GetPrePrepare()
		if pp != nil && !seen[pp.GetSequence()] {
			seen[pp.GetSequence()] = true
			out = append(out, pp)
		}
	}
	return out
}
