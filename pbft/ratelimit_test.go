package pbft

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// A faulty replica repeating "I am stalled" Status messages, or FetchState
// requests, gets answers at a bounded rate: the resends and chunks one peer
// draws are bounded per Status period and per tick, however often it asks.
func TestPeerRequestsAreAnsweredAtABoundedRate(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize, cfg.StatusTicks = 2, 4, 2 })
	for range 5 {
		req := c.request([]byte("op"))
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
		c.deliver(func(s sent) bool { return s.to == 3 })
	}
	r := c.reps[0]
	if r.StableCheckpoint() == 0 {
		t.Fatal("setup: no stable checkpoint")
	}
	sentTo3 := func() int {
		n := 0
		for _, env := range r.Ready().Messages {
			if env.To == 3 {
				n++
			}
		}
		return n
	}
	status := &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{View: 0, LastExecuted: 0, Replica: 3}}}
	for range 1000 {
		_ = r.Step(FromReplica(3), status)
	}
	// One resend is at most the checkpoints in the window and three votes
	// for ResendLimit sequence numbers; two are allowed at once.
	perResend := int(r.cfg.WindowSize/r.cfg.CheckpointInterval) + 1 + 3*int(r.cfg.ResendLimit)
	if n := sentTo3(); n == 0 || n > 2*perResend {
		t.Fatalf("1,000 stalled Status messages drew %d messages, want at most two resends (%d)", n, 2*perResend)
	}
	fetch := &wire.Message{Content: &wire.Message_FetchState{FetchState: &wire.FetchState{Sequence: 1, Replica: 3}}}
	for range 1000 {
		_ = r.Step(FromReplica(3), fetch)
	}
	if n := sentTo3(); n != 4 {
		t.Fatalf("1,000 FetchState requests in one tick drew %d chunks, want the burst of 4", n)
	}
	if r.Stats().RateLimited < 1000 {
		t.Fatalf("%d unanswered requests counted", r.Stats().RateLimited)
	}
}
