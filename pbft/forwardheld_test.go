package pbft

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// tickHearing ticks replica id n times, hearing the others' Status every
// period, and reports whether it suspected the primary meanwhile.
func (c *testCluster) tickHearing(id int, n uint64, each func()) bool {
	c.t.Helper()
	r := c.reps[id]
	before := r.Stats().Suspicions
	for i := range n {
		if i%r.cfg.StatusTicks == 0 {
			for j, o := range c.reps {
				if j != id {
					st := &wire.Status{View: o.view, LastExecuted: o.lastExec, StableSequence: o.low, Replica: uint32(j)}
					must(c.t, r.Step(FromReplica(uint32(j)), &wire.Message{Content: &wire.Message_Status{Status: st}}))
				}
			}
		}
		if each != nil {
			each()
		}
		r.Tick()
		c.collect(id)
	}
	return r.Stats().Suspicions > before
}

// When its timer fires, a backup first forwards to the primary the requests
// it holds that it never forwarded (a correct primary may have dropped them
// at its share, and a client that sent once never resends), and suspects
// only if the primary then leaves one unordered for another timeout. Fresh
// requests arriving all the while do not buy a primary that ignores what
// it is told more time. Before, such orphans of a flood fired every
// backup's timer once the load stopped and replaced a correct primary.
func TestBackupForwardsHeldRequestsBeforeSuspecting(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	r := c.reps[1]
	req := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	must(t, c.fromClient(1, req)) // only replica 1 holds it: the primary dropped it
	if c.tickHearing(1, r.cfg.ViewChangeTicks+2, nil) {
		t.Fatal("the backup suspected the primary without telling it of the request")
	}
	var forwards []sent
	for _, s := range c.take(&wire.Message_Request{}) {
		if s.from == 1 && s.to == 0 && s.msg.GetRequest().GetTimestamp() == req.GetTimestamp() {
			forwards = append(forwards, s)
		}
	}
	if len(forwards) != 1 || r.Stats().TimeoutForwards != 1 {
		t.Fatalf("forwards to the primary: %d sent, %d counted; want 1", len(forwards), r.Stats().TimeoutForwards)
	}

	t.Run("a primary that orders it", func(t *testing.T) {
		must(t, c.step(1, 0, forwards[0].msg))
		c.deliver(nil)
		if r.LastExecuted() != 1 {
			t.Fatalf("the forwarded request did not execute: last executed %d", r.LastExecuted())
		}
		if c.tickHearing(1, 2*r.cfg.ViewChangeTicks, nil) {
			t.Fatal("suspected a primary that ordered the forwarded request")
		}
	})
	t.Run("a primary that dropped one of two, then executed the other", func(t *testing.T) {
		c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
		r := c.reps[1]
		a := c.requestOf(1, kv.EncodePut([]byte("a"), []byte("1")))
		b := c.requestOf(2, kv.EncodePut([]byte("b"), []byte("2")))
		must(t, c.fromClient(1, a))
		must(t, c.fromClient(1, b))
		if c.tickHearing(1, r.cfg.ViewChangeTicks+2, nil) {
			t.Fatal("suspected before forwarding")
		}
		for _, s := range c.take(&wire.Message_Request{}) {
			if s.msg.GetRequest().GetSession() == a.GetSession() {
				must(t, c.step(s.from, s.to, s.msg)) // b's forward is lost: the primary was full
			}
		}
		c.deliver(nil)
		if r.LastExecuted() != 1 {
			t.Fatalf("a did not execute: last executed %d", r.LastExecuted())
		}
		// The primary executed since it was told of b: a busy primary may
		// have refused it. b is forwarded again, not held against it.
		if c.tickHearing(1, r.cfg.ViewChangeTicks+2, nil) {
			t.Fatal("suspected a primary that executed since it was told of the request")
		}
		if n := r.Stats().TimeoutForwards; n != 3 {
			t.Fatalf("%d timeout forwards, want 3 (a and b, then b again)", n)
		}
	})
	t.Run("a primary that ignores it, fresh requests arriving, clients resending", func(t *testing.T) {
		c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
		r := c.reps[1]
		sent := []*wire.Request{c.request(kv.EncodePut([]byte("k"), []byte("v")))}
		must(t, c.fromClient(1, sent[0]))
		session := uint64(100)
		fresh := func() {
			for _, req := range sent {
				must(t, c.fromClient(1, req)) // resent: forwarded once a Status period
			}
			session++
			sent = append(sent, c.requestOf(session, kv.EncodePut([]byte("k"), []byte("v"))))
			must(t, c.fromClient(1, sent[len(sent)-1]))
		}
		if !c.tickHearing(1, 2*r.cfg.ViewChangeTicks+2, fresh) {
			t.Fatalf("no suspicion of a primary that ignored a forwarded request for a timeout (%d forwards)", r.Stats().TimeoutForwards)
		}
	})
}
