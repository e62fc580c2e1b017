package pbft

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// A replica cut off while the others moved past its window fetches the
// stable checkpoint in chunks; a first chunk with one flipped byte is
// rejected and counted at once (the signer is not asked for the rest), and
// the next signer's state is installed.
func TestStateTransferRejectsACorruptSnapshot(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) {
		cfg.CheckpointInterval, cfg.WindowSize, cfg.StateChunkSize, cfg.StatusTicks = 2, 4, 16, 1
	})
	cutOff := func(s sent) bool { return s.from == 3 || s.to == 3 }
	for i := range 8 {
		req := c.request(kv.EncodePut([]byte("k"), []byte{byte('a' + i)}))
		for r := range 3 {
			must(t, c.fromClient(r, req))
		}
		c.deliver(cutOff)
	}
	if c.reps[0].StableCheckpoint() != 8 || c.reps[3].LastExecuted() != 0 {
		t.Fatalf("setup: stable %d at replica 0, replica 3 executed %d", c.reps[0].StableCheckpoint(), c.reps[3].LastExecuted())
	}
	// The others tell replica 3 about their checkpoint at 8 (as their Status
	// answers would); it is far beyond replica 3's window.
	for r := range 3 {
		cp := &wire.Checkpoint{Sequence: 8, StateDigest: c.reps[r].StableCertificate()[0].GetStateDigest(), Replica: uint32(r)}
		must(t, SignCheckpoint(c.signers[r], "test", cp))
		must(t, c.step(r, 3, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}}))
	}
	fetch := func() sent {
		t.Helper()
		for range 5 {
			c.reps[3].Tick()
			c.collect(3)
			if f := c.take(&wire.Message_FetchState{}); len(f) > 0 {
				c.pending = nil
				return f[0]
			}
		}
		t.Fatal("replica 3 never asked for state")
		return sent{}
	}
	// ask hands a FetchState to the signer asked, a tick later (a signer
	// serves each peer about one chunk per tick).
	ask := func(f sent) {
		c.reps[f.to].Tick()
		_ = c.reps[f.to].Ready()
		must(t, c.step(f.from, f.to, f.msg))
	}
	// The first signer asked serves a corrupt chunk.
	f := fetch()
	corrupted := false
	for !corrupted {
		ask(f)
		chunk := c.take(&wire.Message_StateChunk{})[0]
		m := proto.Clone(chunk.msg).(*wire.Message)
		sc := m.GetStateChunk()
		if sc.GetChunks() < 3 {
			t.Fatalf("setup: a state of %d chunks", sc.GetChunks())
		}
		// The first chunk is corrupt: the tree root the certificate
		// commits to exposes it at once, not after the whole state.
		if sc.GetChunk() == 0 {
			sc.Data[len(sc.Data)-1] ^= 1
			corrupted = true
		}
		before := c.reps[3].Stats()
		err := c.step(chunk.from, 3, m)
		if corrupted {
			after := c.reps[3].Stats()
			bad := after.Dropped[ErrDigestMismatch.Error()] + after.Dropped[ErrMalformed.Error()] -
				before.Dropped[ErrDigestMismatch.Error()] - before.Dropped[ErrMalformed.Error()]
			if err == nil || bad != 1 {
				t.Fatalf("corrupt snapshot: err %v, %d counted", err, bad)
			}
			break
		}
		must(t, err)
		f = c.take(&wire.Message_FetchState{})[0]
	}
	if c.reps[3].LastExecuted() != 0 {
		t.Fatal("replica 3 installed a corrupt snapshot")
	}
	// It moved on to the next signer, which serves the real state.
	next := c.take(&wire.Message_FetchState{})
	if len(next) != 1 || next[0].to == f.to {
		t.Fatalf("after the corrupt snapshot replica 3 asked %v, want another signer", next)
	}
	f = next[0]
	for c.reps[3].LastExecuted() == 0 {
		ask(f)
		chunk := c.take(&wire.Message_StateChunk{})[0]
		must(t, c.step(chunk.from, 3, chunk.msg))
		if c.reps[3].LastExecuted() == 0 {
			f = c.take(&wire.Message_FetchState{})[0]
		}
	}
	if c.reps[3].LastExecuted() != 8 || c.reps[3].StateDigest() != c.reps[0].StateDigest() {
		t.Fatalf("replica 3 at %d after the transfer, state equal: %v", c.reps[3].LastExecuted(),
			c.reps[3].StateDigest() == c.reps[0].StateDigest())
	}
	if c.reps[3].Stats().StateTransfers != 1 {
		t.Fatal("state transfer not counted")
	}
}

// A download that execution overtook is discarded: installing it would roll
// the replica back below batches it executed and replied to.
func TestStateTransferNeverRollsBack(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize = 2, 4 })
	for range 4 {
		req := c.request([]byte("op"))
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
		c.deliver(nil)
	}
	r := c.reps[1]
	old := r.snapshots[r.StableCheckpoint()]
	before, digest := r.LastExecuted(), r.StateDigest()
	must(t, r.installVerified(2, old.blob, r.StableCertificate(), 0))
	if r.LastExecuted() != before || r.StateDigest() != digest {
		t.Fatalf("executed %d -> %d after installing an older state", before, r.LastExecuted())
	}
}
