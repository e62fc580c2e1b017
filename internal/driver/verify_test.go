package driver

import (
	"sync/atomic"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

type countingVerifier struct {
	crypto.Verifier
	calls atomic.Int64
}

func (v *countingVerifier) Verify(pub crypto.PublicKey, msg, sig []byte) bool {
	v.calls.Add(1)
	return v.Verifier.Verify(pub, msg, sig)
}

// The core's batches of client checks (a batch's requests at the primary)
// pass through the preverifier to the inner verifier, which checks each
// item: forged ones fail, others pass, whatever signature they share.
func TestCoreBatchesReachTheInnerVerifier(t *testing.T) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := make([]byte, crypto.SignatureSize)
	var items []crypto.Item
	for i := range 32 {
		req := &wire.Request{ClientKey: key.PublicKey(), Session: uint64(i), Timestamp: 1, Operation: []byte{byte(i)}, Signature: forged}
		if i%2 == 0 {
			pbft.SignRequest(key, "c", req)
		}
		items = append(items, crypto.Item{PublicKey: key.PublicKey(), Message: pbft.RequestTranscript("c", req), Signature: req.GetSignature()})
	}
	inner := &countingVerifier{Verifier: crypto.Ed25519Verifier{}}
	v := &preverifier{inner: inner, done: make(map[string][]checked)}
	for i, ok := range crypto.VerifyBatch(v, items) {
		if ok != (i%2 == 0) {
			t.Fatalf("item %d: verdict %v", i, ok)
		}
	}
	if got := inner.calls.Load(); got != int64(len(items)) || v.batched != uint64(len(items)) {
		t.Fatalf("%d signature checks (%d counted) for %d items", got, v.misses, len(items))
	}
}

// A vote the core would drop as late (pbft.Replica.LateVote) is not
// verified ahead of it; one it needs is.
func TestLateVotesAreNotPreverified(t *testing.T) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &wire.Prepare{View: 0, Sequence: 1, Digest: make([]byte, crypto.DigestSize), Replica: 1}
	if err := pbft.SignPrepare(key, "c", p); err != nil {
		t.Fatal(err)
	}
	batch := []pbft.Inbound{{From: pbft.FromReplica(1), Msg: &wire.Message{Content: &wire.Message_Prepare{Prepare: p}}}}
	replicas := []crypto.PublicKey{key.PublicKey(), key.PublicKey()}
	for _, late := range []bool{false, true} {
		v := &preverifier{inner: crypto.Ed25519Verifier{}, done: make(map[string][]checked)}
		v.prepare("c", replicas, batch, func(*wire.Message) bool { return late })
		if checked := len(v.done) > 0; checked == late {
			t.Errorf("late %v: verified ahead of the core: %v", late, checked)
		}
	}
}
