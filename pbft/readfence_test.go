package pbft

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// A replica that sent its commit for sequence number 3 may have executed 3
// and answered a write there; executed batches are not synced, so after a
// power cut it may come back having executed only 1. It must not answer a
// read from that older state: the read's 2f+1 could then agree on a value
// the write had replaced. It answers again once it executed 3.
func TestRestartedReplicaAnswersNoReadBelowWhatItCommitted(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	var committed []*wire.PrePrepare
	for seq := uint64(1); seq <= 3; seq++ {
		committed = append(committed, c.prePrepareAt(seq, c.request(kv.EncodePut([]byte("k"), []byte{'0' + byte(seq)}))))
	}
	ownCommit := c.signedCommit(1, 0, 3, committed[2].GetDigest())
	read := func(r *Replica) []*wire.Reply {
		t.Helper()
		c.reps[1] = r
		_ = r.Ready()
		c.replies = nil
		req := &wire.Request{ClientKey: c.client.PublicKey(), Session: 1, Timestamp: c.nextTS, Operation: kv.EncodeGet([]byte("k")), ReadOnly: true}
		c.nextTS++
		SignRequest(c.client, "test", req)
		_ = c.fromClient(1, req)
		return c.replies
	}
	restart := func(executed int) *Replica {
		t.Helper()
		cfg := c.reps[1].cfg
		cfg.Service = kv.New()
		r, err := Restart(cfg, Durable{View: 0, Log: []*wire.Message{ownCommit}, Committed: committed[:executed]})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	behind := restart(1)
	if got := read(behind); len(got) != 0 {
		t.Fatalf("restarted having executed 1 of the 3 it committed, it answered a read: %v", got)
	}
	if n := behind.Stats().Dropped[ErrReadBehind.Error()]; n != 1 {
		t.Fatalf("the unanswered read was not counted as %q: %v", ErrReadBehind, behind.Stats().Dropped)
	}
	caughtUp := restart(3)
	got := read(caughtUp)
	if len(got) != 1 {
		t.Fatalf("restarted having executed all it committed, it answered %d replies to a read", len(got))
	}
	if res, err := kv.DecodeResult(got[0].GetResult()); err != nil || string(res.Value) != "3" {
		t.Fatalf("read after catching up: %+v, %v; want the value written at 3", res, err)
	}
}

// Before its first checkpoint a replica reports the digest of the state it
// started in as sequence 0's, whenever it is first asked: a replica asked
// only after executing must report the same as one asked before.
func TestCheckpointDigestBeforeTheFirstCheckpointIsTheInitialState(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	_, before := c.reps[2].CheckpointDigest()
	must(t, c.fromClient(0, c.request(kv.EncodePut([]byte("k"), []byte("v")))))
	c.deliver(nil)
	if c.reps[1].LastExecuted() != 1 || c.reps[1].StableCheckpoint() != 0 {
		t.Fatalf("replica 1 executed %d, stable %d; want one request, no checkpoint", c.reps[1].LastExecuted(), c.reps[1].StableCheckpoint())
	}
	seq, late := c.reps[1].CheckpointDigest() // first asked now, after executing
	if _, early := c.reps[2].CheckpointDigest(); seq != 0 || late != before || early != before {
		t.Fatalf("sequence 0's digest: %x asked late, %x asked early (seq %d)", late[:4], before[:4], seq)
	}
}
