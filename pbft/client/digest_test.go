package client

import (
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// digestReplyTo is replica from's reply carrying only the digest of result.
func digestReplyTo(req *wire.Request, from uint32, result string) *wire.Reply {
	d := crypto.Hash([]byte(result))
	rep := replyTo(req, from, 0, "")
	rep.Result, rep.ResultDigest = nil, d[:]
	return rep
}

// Replies that carry only the result's digest count toward the quorum, but
// the result is taken only from a matching reply that carries it.
func TestDigestRepliesNeedOneMatchingFullReply(t *testing.T) {
	s := newSession(t)
	req, err := s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Step(0, digestReplyTo(req, 0, "result")); ok {
		t.Fatal("accepted on one reply")
	}
	if _, ok := s.Step(1, digestReplyTo(req, 1, "result")); ok {
		t.Fatal("accepted f+1 matching digests without the result")
	}
	if _, ok := s.Step(2, replyTo(req, 2, 0, "other")); ok {
		t.Fatal("accepted a full reply that matches no digest")
	}
	res, ok := s.Step(3, replyTo(req, 3, 0, "result"))
	if !ok || string(res.Result) != "result" {
		t.Fatalf("the full reply matching two digests: ok %v, result %q", ok, res.Result)
	}
}

// A replica that sent the digest may send the result itself later (it
// answers the resent request from its cache); one that contradicts its
// digest is ignored, and so is a reply that carries both or a digest of the
// wrong size.
func TestDigestReplyMayBeFollowedByItsResult(t *testing.T) {
	s := newSession(t)
	req, err := s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	bad := digestReplyTo(req, 2, "result")
	bad.Result = []byte("result")
	short := digestReplyTo(req, 2, "result")
	short.ResultDigest = short.ResultDigest[:8]
	for _, rep := range []*wire.Reply{bad, short} {
		if _, ok := s.Step(2, rep); ok {
			t.Fatal("accepted a malformed reply")
		}
	}
	s.Step(0, digestReplyTo(req, 0, "result"))
	s.Step(1, digestReplyTo(req, 1, "result"))
	if _, ok := s.Step(1, replyTo(req, 1, 0, "forged")); ok {
		t.Fatal("accepted a result that contradicts the same replica's digest")
	}
	res, ok := s.Step(1, replyTo(req, 1, 0, "result"))
	if !ok || string(res.Result) != "result" {
		t.Fatalf("replica 1's result after its digest: ok %v, result %q", ok, res.Result)
	}
}

// One replica sends the result on execution. A session holding a quorum of
// matching digests but not the result resends the request after
// resultWaitTicks, well before its retransmission timeout (5 ticks here),
// and takes the result from the full answers to the resend; without such a
// quorum it waits for the timeout.
func TestDigestQuorumWithoutTheResultResendsSoon(t *testing.T) {
	s := newSession(t)
	req, err := s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	s.Step(0, digestReplyTo(req, 0, "result"))
	if s.Tick() != nil {
		t.Fatal("resent on one digest")
	}
	s.Step(1, digestReplyTo(req, 1, "result"))
	s.Step(2, digestReplyTo(req, 2, "result"))
	ticks := 0
	for s.Tick() == nil {
		if ticks++; ticks > resultWaitTicks {
			t.Fatalf("no resend %d ticks after a quorum of digests", ticks)
		}
	}
	if ticks != resultWaitTicks-1 || s.Retransmissions() != 1 {
		t.Fatalf("resent %d ticks after the quorum (want %d), %d retransmissions", ticks+1, resultWaitTicks, s.Retransmissions())
	}
	res, ok := s.Step(1, replyTo(req, 1, 0, "result"))
	if !ok || string(res.Result) != "result" {
		t.Fatalf("the full answer to the resend: ok %v, result %q", ok, res.Result)
	}

	// A digest quorum that does not match is no reason to resend early.
	req, err = s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	s.Step(0, digestReplyTo(req, 0, "a"))
	s.Step(1, digestReplyTo(req, 1, "b"))
	for i := 1; i < 5; i++ {
		if s.Tick() != nil {
			t.Fatalf("resent after %d ticks without a matching quorum", i)
		}
	}
	if s.Tick() == nil {
		t.Fatal("no retransmission at the timeout")
	}
}
