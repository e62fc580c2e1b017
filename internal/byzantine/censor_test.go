package byzantine

import (
	"bytes"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// A censoring primary leaves the first client key it proposed out of its
// batches, in a batch every backup accepts; the same one each time the
// core sends that pre-prepare.
func TestCensorLeavesOneKeyOutOfValidBatches(t *testing.T) {
	c := newTestCluster(t)
	victim, other := c.scheme.NewSigner("victim"), c.scheme.NewSigner("other")
	req := func(s crypto.Signer, session uint64) *wire.Request {
		r := &wire.Request{ClientKey: s.PublicKey(), Session: session, Timestamp: 1, Operation: kv.EncodePut([]byte("k"), []byte("v"))}
		pbft.SignRequest(s, cluster, r)
		return r
	}
	pp := &wire.PrePrepare{View: 0, Sequence: 1, Replica: 0,
		Requests: []*wire.Request{req(victim, 1), req(other, 1), req(victim, 2), req(other, 2)}}
	signBatch(c.signers[0], cluster, pp)
	d := c.decorator(Censor, 0)
	env := pbft.Envelope{To: 1, Msg: prePrepare(pp)}
	got := only(t, d.Rewrite(env), 1).GetPrePrepare()
	if len(got.GetRequests()) != 2 {
		t.Fatalf("censored batch holds %d requests, want the other key's 2", len(got.GetRequests()))
	}
	for _, r := range got.GetRequests() {
		if bytes.Equal(r.GetClientKey(), victim.PublicKey()) {
			t.Fatal("the censored key's request is still in the batch")
		}
	}
	if _, err := c.step(t, 1, 0, prePrepare(got)); err != nil {
		t.Fatalf("a backup refused the censored batch: %v", err)
	}
	if again := only(t, d.Rewrite(env), 1); again.GetPrePrepare() != got {
		t.Fatal("the same pre-prepare was censored into another message")
	}
}

// A stale reader answers each read-only request with its session's
// previous result; ordered replies pass unchanged.
func TestStaleReadAnswersThePreviousResult(t *testing.T) {
	c := newTestCluster(t)
	d := c.decorator(StaleRead, 2)
	reply := func(ts uint64, result string, readOnly bool) pbft.Envelope {
		return pbft.Envelope{To: pbft.ToClient, Client: "c", Msg: &wire.Message{Content: &wire.Message_Reply{Reply: &wire.Reply{
			ClientKey: []byte("c"), Session: 7, Timestamp: ts, Replica: 2, Result: []byte(result), ReadOnly: readOnly}}}}
	}
	for _, tc := range []struct {
		env  pbft.Envelope
		want string
	}{
		{reply(1, "old", true), "old"}, // nothing older to give
		{reply(2, "ok", false), "ok"},  // ordered: unchanged
		{reply(3, "new", true), "old"}, // the previous read's result
		{reply(4, "newer", true), "new"},
	} {
		got := only(t, d.Rewrite(tc.env), pbft.ToClient).GetReply()
		if string(got.GetResult()) != tc.want {
			t.Fatalf("reply %d: result %q, want %q", tc.env.Msg.GetReply().GetTimestamp(), got.GetResult(), tc.want)
		}
	}
}

// Sluggish marks pre-prepares, and only them, to be held just under the
// performance monitor's floor.
func TestSluggishHoldsPrePreparesOnly(t *testing.T) {
	c := newTestCluster(t)
	held := 0
	for _, s := range c.run(t) {
		outs := c.decorator(Sluggish, s.from).Rewrite(s.Envelope)
		if len(outs) != 1 || outs[0].Envelope != s.Envelope || outs[0].Sluggish != isPrePrepare(s.Msg) || outs[0].Delay {
			t.Fatalf("%T became %+v", s.Msg.Content, outs)
		}
		if outs[0].Sluggish {
			held++
		}
	}
	if held == 0 {
		t.Fatal("no pre-prepare checked")
	}
}
