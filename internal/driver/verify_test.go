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

// A client that puts one forged signature on many different requests gets
// each checked once: the driver's parallel pass answers the core for every
// one of them, not only for the last.
func TestOneForgedSignatureOnManyRequestsIsCheckedOncePerRequest(t *testing.T) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := make([]byte, crypto.SignatureSize)
	var batch []pbft.Inbound
	for i := range 32 {
		req := &wire.Request{ClientKey: key.PublicKey(), Session: uint64(i), Timestamp: 1, Operation: []byte{byte(i)}, Signature: forged}
		batch = append(batch, pbft.Inbound{From: pbft.FromClient(key.PublicKey()), Msg: &wire.Message{Content: &wire.Message_Request{Request: req}}})
	}
	inner := &countingVerifier{Verifier: crypto.Ed25519Verifier{}}
	v := &preverifier{inner: inner, done: make(map[string][]checked)}
	v.prepare("c", nil, batch, true, nil, nil)
	for _, m := range batch {
		req := m.Msg.GetRequest()
		if v.Verify(req.GetClientKey(), pbft.RequestTranscript("c", req), req.GetSignature()) {
			t.Fatal("a forged signature verified")
		}
	}
	if got := inner.calls.Load(); got != int64(len(batch)) {
		t.Fatalf("%d signature checks for %d requests", got, len(batch))
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
		v.prepare("c", replicas, batch, false, nil, func(*wire.Message) bool { return late })
		if checked := len(v.done) > 0; checked == late {
			t.Errorf("late %v: verified ahead of the core: %v", late, checked)
		}
	}
}
