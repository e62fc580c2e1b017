package pbft

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// A prepared certificate inside a VIEW-CHANGE needs 2f matching prepares
// from distinct backups: with 2f-1 a faulty replica could make the new view
// re-issue a batch that never prepared at a correct replica.
func TestViewChangeCertificateNeedsTwoFPrepares(t *testing.T) {
	c, vcs := viewChangeSetup(t)
	var vc *wire.ViewChange
	for _, v := range vcs {
		if len(v.GetPrepared()) > 0 {
			vc = proto.Clone(v).(*wire.ViewChange)
		}
	}
	if vc == nil || len(vc.GetPrepared()[0].GetPrepares()) != 2 {
		t.Fatalf("setup: no view change with a certificate of 2f=2 prepares: %v", vcs)
	}
	must(t, c.reps[0].checkViewChange(vc))
	vc.Prepared[0].Prepares = vc.Prepared[0].Prepares[:1]
	vc.Signature = c.signers[vc.GetReplica()].Sign(viewChangeTranscript("test", vc))
	m := &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}}
	if err := c.step(int(vc.GetReplica()), 0, m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("view change with a certificate of 2f-1 prepares: %v, want ErrMalformed", err)
	}
}

// signedCheckpoints are checkpoints for seq with one digest by replicas ids.
func (c *testCluster) signedCheckpoints(seq uint64, d crypto.Digest, ids ...int) []*wire.Checkpoint {
	var out []*wire.Checkpoint
	for _, id := range ids {
		cp := &wire.Checkpoint{Sequence: seq, StateDigest: d[:], Replica: uint32(id)}
		must(c.t, SignCheckpoint(c.signers[id], "test", cp))
		out = append(out, cp)
	}
	return out
}

// A checkpoint certificate needs 2f+1 signers wherever it moves a low
// watermark or vouches for a state: in a view change's proof, in a state
// transfer, in what a replica restarts from. f+1 include a correct replica,
// so they name a real state, but not one a quorum made stable.
func TestCheckpointCertificateNeedsTwoFPlusOne(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	d := crypto.Hash([]byte("some state"))
	short := c.signedCheckpoints(4, d, 0, 1)
	full := c.signedCheckpoints(4, d, 0, 1, 2)

	viewChange := func(proof []*wire.Checkpoint) *wire.Message {
		vc := &wire.ViewChange{NewView: 1, StableSequence: 4, CheckpointProof: proof, Replica: 2}
		vc.Signature = c.signers[2].Sign(viewChangeTranscript("test", vc))
		return &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}}
	}
	if err := c.step(2, 3, viewChange(short)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("view change proving its checkpoint with f+1 checkpoints: %v, want ErrMalformed", err)
	}
	must(t, c.step(2, 3, viewChange(full)))

	// A state transfer in progress from replica 1.
	r := c.reps[3]
	r.transfer = transfer{seq: 4, peers: []uint32{1}, peer: 1, attempts: 1}
	chunk := &wire.StateChunk{Sequence: 4, Chunk: 0, Chunks: 1, Data: []byte{}, Certificate: short, Replica: 1}
	if err := c.step(1, 3, &wire.Message{Content: &wire.Message_StateChunk{StateChunk: chunk}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("state chunk certified by f+1 checkpoints: %v, want ErrMalformed", err)
	}

	cfg := r.cfg
	cfg.Service = kv.New()
	if _, err := Restart(cfg, Durable{Stable: &wire.StateSnapshot{Sequence: 4, Certificate: short}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("restart from a snapshot certified by f+1 checkpoints: %v, want ErrMalformed", err)
	}
	if _, err := Restart(cfg, Durable{Low: &wire.StableProof{Sequence: 4, Certificate: short}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("restart from a low watermark proven by f+1 checkpoints: %v, want ErrMalformed", err)
	}
	restarted, err := Restart(cfg, Durable{Low: &wire.StableProof{Sequence: 4, Certificate: full}})
	if err != nil || restarted.StableCheckpoint() != 4 {
		t.Fatalf("restart from a proven low watermark: h=%v, %v", restarted, err)
	}
}

// Execution skips a request its session already executed, however often a
// faulty primary orders it: here at s=1 and again at s=2.
func TestExecutionSkipsExecutedTimestamps(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request(kv.EncodeCAS([]byte("k"), nil, []byte("v")))
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, req))
	}
	c.prePrepareFor(req)
	c.pending = nil
	first := c.prePrepareAt(1, req)
	again := c.prePrepareAt(2, req)
	for _, pp := range []*wire.PrePrepare{first, again} {
		for i := 1; i < 4; i++ {
			must(t, c.step(0, i, ppMsg(pp)))
		}
	}
	c.deliver(nil)
	for i := 1; i < 4; i++ {
		st := c.reps[i].Stats()
		if st.ExecutedBatches != 2 || st.ExecutedRequests != 1 {
			t.Fatalf("replica %d executed %d batches with %d requests; want 2 batches, the request once", i, st.ExecutedBatches, st.ExecutedRequests)
		}
	}
}

// prePrepareAt is the primary's (replica 0's) signed pre-prepare of reqs at
// seq in view 0.
func (c *testCluster) prePrepareAt(seq uint64, reqs ...*wire.Request) *wire.PrePrepare {
	digests := make([]crypto.Digest, len(reqs))
	for i, req := range reqs {
		digests[i] = RequestDigest("test", req)
	}
	d := BatchDigest("test", digests)
	pp := &wire.PrePrepare{View: 0, Sequence: seq, Digest: d[:], Requests: reqs, Replica: 0}
	must(c.t, SignPrePrepare(c.signers[0], "test", pp))
	return pp
}

// A primary that restarts and re-executes batches beyond the last sequence
// number it assigned (here three batches of view 0, persisted by replica 1,
// the primary of view 1, which issued nothing yet) assigns the next one
// above them, never one it executed.
func TestRestartedPrimaryProposesAboveWhatItExecuted(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	var committed []*wire.PrePrepare
	for seq := uint64(1); seq <= 3; seq++ {
		committed = append(committed, c.prePrepareAt(seq, c.request([]byte{byte(seq)})))
	}
	cfg := c.reps[1].cfg
	cfg.Service = kv.New()
	r, err := Restart(cfg, Durable{View: 1, Committed: committed})
	if err != nil {
		t.Fatal(err)
	}
	if r.LastExecuted() != 3 || !r.isPrimary() {
		t.Fatalf("restarted at %d in view %d", r.LastExecuted(), r.View())
	}
	c.reps[1] = r
	_ = r.Ready()
	must(t, c.fromClient(1, c.request([]byte("next"))))
	pps := c.take(&wire.Message_PrePrepare{})
	if len(pps) == 0 {
		t.Fatal("the restarted primary proposed nothing")
	}
	if seq := pps[0].msg.GetPrePrepare().GetSequence(); seq != 4 {
		t.Fatalf("the restarted primary assigned s=%d, want 4", seq)
	}
	must(t, r.CheckInvariants())
}

// A backup takes the digest of a request it holds from what it kept, but
// only for the same bytes: a pre-prepare carrying another operation under
// the held request's session and timestamp, named by the held request's
// digest, is refused, not accepted as the held one.
func TestHeldDigestIsReusedOnlyForTheSameRequest(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	held := c.request(kv.EncodePut([]byte("k"), []byte("value-1")))
	must(t, c.fromClient(1, held))
	swapped := proto.Clone(held).(*wire.Request)
	swapped.Operation = kv.EncodePut([]byte("k"), []byte("value-2")) // as long as the held one
	d := BatchDigest("test", []crypto.Digest{RequestDigest("test", held)})
	pp := &wire.PrePrepare{View: 0, Sequence: 1, Digest: d[:], Requests: []*wire.Request{swapped}, Replica: 0}
	must(t, SignPrePrepare(c.signers[0], "test", pp))
	if err := c.step(0, 1, ppMsg(pp)); err == nil {
		t.Fatal("accepted a pre-prepare carrying another operation under the held request's digest")
	}
	if c.reps[1].slots[1] != nil && c.reps[1].slots[1].prePrepare != nil {
		t.Fatal("the swapped pre-prepare was logged")
	}
	// The held request itself, named by its digest, is accepted.
	pp = c.prePrepareAt(1, held)
	must(t, c.step(0, 1, ppMsg(pp)))
	if s := c.reps[1].slots[1]; s == nil || s.prePrepare == nil {
		t.Fatal("the held request's pre-prepare was not accepted")
	}
}
