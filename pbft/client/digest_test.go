package client

import (
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
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

// others returns the replicas of 4 other than the one named to send the
// result of req in full.
func others(req *wire.Request) []uint32 {
	named := pbft.FullReplier(req.GetSession(), req.GetTimestamp(), 4)
	var out []uint32
	for id := range uint32(4) {
		if id != named {
			out = append(out, id)
		}
	}
	return out
}

// One replica sends the result on execution. A session holding a quorum of
// matching digests but not the result, from the others, resends the
// request after resultWaitTicks, well before its retransmission timeout (5
// ticks here), and takes the result from the full answers to the resend;
// without such a quorum it waits for the timeout.
func TestDigestQuorumWithoutTheResultResendsSoon(t *testing.T) {
	s := newSession(t)
	req, err := s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	ids := others(req)
	s.Step(ids[0], digestReplyTo(req, ids[0], "result"))
	if s.Tick() != nil {
		t.Fatal("resent on one digest")
	}
	s.Step(ids[1], digestReplyTo(req, ids[1], "result"))
	s.Step(ids[2], digestReplyTo(req, ids[2], "result"))
	if s.Resend() != nil {
		t.Fatal("resent at once while the named replica has not answered")
	}
	ticks := 0
	for s.Tick() == nil {
		if ticks++; ticks > resultWaitTicks {
			t.Fatalf("no resend %d ticks after a quorum of digests", ticks)
		}
	}
	if ticks != resultWaitTicks-1 || s.Retransmissions() != 1 {
		t.Fatalf("resent %d ticks after the quorum (want %d), %d retransmissions", ticks+1, resultWaitTicks, s.Retransmissions())
	}
	res, ok := s.Step(ids[1], replyTo(req, ids[1], 0, "result"))
	if !ok || string(res.Result) != "result" {
		t.Fatalf("the full answer to the resend: ok %v, result %q", ok, res.Result)
	}

	// A digest quorum that does not match is no reason to resend early.
	req, err = s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	ids = others(req)
	s.Step(ids[0], digestReplyTo(req, ids[0], "a"))
	s.Step(ids[1], digestReplyTo(req, ids[1], "b"))
	for i := 1; i < 5; i++ {
		if s.Tick() != nil {
			t.Fatalf("resent after %d ticks without a matching quorum", i)
		}
	}
	if s.Tick() == nil {
		t.Fatal("no retransmission at the timeout")
	}
}

// When the replica named to send the result answers with a digest, or with
// a result that contradicts a quorum of digests, it is faulty: the session
// resends at once (Resend), once, instead of waiting.
func TestNamedReplierThatFailsTheQuorumMeansAResendAtOnce(t *testing.T) {
	for _, lie := range []string{"digest", "wrong result"} {
		s := newSession(t)
		req, err := s.Submit([]byte("op"), false)
		if err != nil {
			t.Fatal(err)
		}
		named := pbft.FullReplier(req.GetSession(), req.GetTimestamp(), 4)
		ids := others(req)
		if lie == "digest" {
			s.Step(named, digestReplyTo(req, named, "result"))
		} else {
			s.Step(named, replyTo(req, named, 0, "forged"))
		}
		if s.Resend() != nil {
			t.Fatalf("%s: resent before a quorum of digests", lie)
		}
		s.Step(ids[0], digestReplyTo(req, ids[0], "result"))
		s.Step(ids[1], digestReplyTo(req, ids[1], "result"))
		again := s.Resend()
		if again == nil || again.GetTimestamp() != req.GetTimestamp() || s.Retransmissions() != 1 {
			t.Fatalf("%s: the named replica failed a quorum of digests: resend %v, %d retransmissions", lie, again, s.Retransmissions())
		}
		s.Step(ids[2], digestReplyTo(req, ids[2], "result"))
		if s.Resend() != nil {
			t.Fatalf("%s: resent twice at once for one request", lie)
		}
		res, ok := s.Step(ids[0], replyTo(req, ids[0], 0, "result"))
		if !ok || string(res.Result) != "result" {
			t.Fatalf("%s: the full answer to the resend: ok %v, result %q", lie, ok, res.Result)
		}
	}
}
