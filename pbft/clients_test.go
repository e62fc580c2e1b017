package pbft

import (
	"errors"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func requestAt(c *testCluster, session, ts uint64, op string) *wire.Request {
	req := &wire.Request{ClientKey: c.client.PublicKey(), Session: session, Timestamp: ts, Operation: []byte(op)}
	SignRequest(c.client, "test", req)
	return req
}

// Past MaxClientSessions, every replica evicts the same sessions at a
// checkpoint (the least recently executed), so their states stay equal;
// and exactly-once survives: a replay of an evicted session's request is
// refused at admission and skipped at execution, while the session's next
// request, above its key's floor, runs.
func TestSessionEvictionKeepsExactlyOnce(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize, cfg.MaxClientSessions = 2, 4, 2 })
	run := func(req *wire.Request) {
		for i := range c.reps {
			_ = c.fromClient(i, req)
		}
		c.deliver(nil)
	}
	var reqs []*wire.Request
	for s := range uint64(4) {
		reqs = append(reqs, requestAt(c, s, s+1, "a"))
		run(reqs[s])
	}
	evicted := reqs[1] // sessions 0 and 1 executed first: they go
	for i, r := range c.reps {
		if sessions, floors := r.ClientTableSize(); r.LastExecuted() != 4 || sessions != 2 || floors != 1 {
			t.Fatalf("replica %d at %d holds %d sessions and %d floors, want 2 and 1", i, r.LastExecuted(), sessions, floors)
		}
		if r.StateDigest() != c.reps[0].StateDigest() {
			t.Fatalf("replica %d evicted other sessions than replica 0", i)
		}
	}
	// The evicted session's next request is above its key's floor: it runs.
	executed := c.reps[1].Stats().ExecutedRequests
	run(requestAt(c, 0, 10, "b"))
	if got := c.reps[1].Stats().ExecutedRequests; got != executed+1 || c.reps[1].LastExecuted() != 5 {
		t.Fatalf("the evicted session's next request: %d requests executed (was %d), up to %d", got, executed, c.reps[1].LastExecuted())
	}
	if err := c.fromClient(1, evicted); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("replay of an evicted session's request: %v, want ErrStaleTimestamp", err)
	}
	// A faulty primary orders the replay anyway: it executes as skipped.
	replay := c.prePrepareAt(6, evicted)
	for i := 1; i < 4; i++ {
		must(t, c.step(0, i, ppMsg(replay)))
	}
	c.deliver(nil)
	if c.reps[1].LastExecuted() != 6 || c.reps[1].Stats().ExecutedRequests != executed+1 {
		t.Fatalf("the replay at s=6: executed up to %d, %d requests (want %d)", c.reps[1].LastExecuted(), c.reps[1].Stats().ExecutedRequests, executed+1)
	}
}

// Once a key's floor rises above a held request's timestamp, no replica
// will execute it: the request is dropped (held and never ordered) or
// cleared when its batch executes as skipped, so it no longer takes its
// key's share of held bytes or fires the backup's timer. A flood of fresh
// sessions all at timestamp 1 left thousands so behind at every replica.
func TestHeldRequestsBelowTheFloorAreForgotten(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize, cfg.MaxClientSessions = 2, 4, 2 })
	toAll := func(req *wire.Request) {
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
	}
	for s := range uint64(3) {
		toAll(requestAt(c, s, s+1, "a"))
		c.deliver(nil)
	}
	orphan := requestAt(c, 100, 1, "orphan") // only replica 1 holds it: never ordered
	must(t, c.fromClient(1, orphan))
	toAll(requestAt(c, 3, 4, "a"))         // s=4: its checkpoint evicts sessions 0 and 1, the floor is 2
	toAll(requestAt(c, 101, 1, "ordered")) // s=5: ordered before the floor rose, skipped at execution
	c.deliver(nil)
	r := c.reps[1]
	if sessions, floors := r.ClientTableSize(); r.LastExecuted() != 5 || floors != 1 || sessions != 2 {
		t.Fatalf("setup: executed up to %d, %d sessions, %d floors; want 5, 2, 1", r.LastExecuted(), sessions, floors)
	}
	if r.Stats().ExecutedRequests != 4 {
		t.Fatalf("%d requests executed, want 4 (session 101's skipped)", r.Stats().ExecutedRequests)
	}
	for _, s := range []uint64{100, 101} {
		if cs := r.clients[sessionKey{client: string(c.client.PublicKey()), session: s}]; cs != nil {
			t.Errorf("session %d still held (pending %v)", s, cs.pending != nil)
		}
	}
	if r.heldTotal != 0 || len(r.held) != 0 {
		t.Errorf("held: %d bytes in all, %v per key; want none", r.heldTotal, r.held)
	}
}
