package client

import (
	"testing"

	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

var scheme = cryptotest.NewScheme(1)

// newSession is a session of a cluster without fast reads: every operation
// ordered, accepted on f+1 matching replies.
func newSession(t *testing.T) *Session { return newSessionOf(t, false) }

func newSessionOf(t *testing.T, fastReads bool) *Session {
	t.Helper()
	s, err := NewSession(Config{
		ClusterID: "test", Replicas: 4, Signer: scheme.NewSigner("c"),
		Session: 3, FirstTimestamp: 10, RetransmitTicks: 5, FastReads: fastReads,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func replyTo(req *wire.Request, from uint32, view uint64, result string) *wire.Reply {
	return &wire.Reply{
		View: view, ClientKey: req.GetClientKey(), Session: req.GetSession(), Timestamp: req.GetTimestamp(),
		Replica: from, Result: []byte(result), ReadOnly: req.GetReadOnly(),
	}
}

func TestSubmitSignsAFreshRequest(t *testing.T) {
	s := newSession(t)
	req, err := s.Submit([]byte("op"), false)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetTimestamp() != 10 || req.GetSession() != 3 {
		t.Fatalf("timestamp %d session %d, want 10 and 3", req.GetTimestamp(), req.GetSession())
	}
	if !scheme.Verify(req.GetClientKey(), pbft.RequestTranscript("test", req), req.GetSignature()) {
		t.Fatal("request signature does not verify")
	}
	if _, err := s.Submit([]byte("op2"), false); err != ErrBusy {
		t.Fatalf("second Submit: %v, want ErrBusy", err)
	}
	s.Step(0, replyTo(req, 0, 0, "r"))
	s.Step(1, replyTo(req, 1, 0, "r"))
	next, err := s.Submit([]byte("op2"), false)
	if err != nil || next.GetTimestamp() != 11 {
		t.Fatalf("next request: ts %d err %v, want 11", next.GetTimestamp(), err)
	}
}

func TestAcceptsOnlyFPlusOneMatchingFromDistinctReplicas(t *testing.T) {
	s := newSession(t)
	req, _ := s.Submit([]byte("op"), false)
	steps := []struct {
		from   uint32
		rep    *wire.Reply
		accept bool
	}{
		{0, replyTo(req, 0, 2, "evil"), false},
		{1, replyTo(req, 1, 0, "good"), false},
		{1, replyTo(req, 1, 0, "good"), false}, // the same replica again does not count
		{2, replyTo(req, 3, 0, "good"), false}, // claims to be another replica
		{2, &wire.Reply{Replica: 2, Timestamp: 9, ClientKey: req.GetClientKey(), Session: 3, Result: []byte("good")}, false}, // old timestamp
		{3, replyTo(req, 3, 1, "good"), true},
	}
	for i, st := range steps {
		res, ok := s.Step(st.from, st.rep)
		if ok != st.accept {
			t.Fatalf("step %d: accepted=%v, want %v", i, ok, st.accept)
		}
		if ok && (string(res.Result) != "good" || res.Timestamp != 10 || res.View != 0) {
			t.Fatalf("accepted %+v", res)
		}
	}
	if s.Outstanding() != nil {
		t.Fatal("request still outstanding after acceptance")
	}
}

func TestReadOnlyNeedsTwoFPlusOneThenFallsBackToOrdered(t *testing.T) {
	s := newSessionOf(t, true)
	req, _ := s.Submit([]byte("get"), true)
	if !req.GetReadOnly() {
		t.Fatal("a read on a cluster with fast reads was ordered")
	}
	s.Step(0, replyTo(req, 0, 0, "v"))
	if _, ok := s.Step(1, replyTo(req, 1, 0, "v")); ok {
		t.Fatal("read-only accepted with f+1 replies")
	}
	var resend *wire.Request
	for range 5 {
		resend = s.Tick()
	}
	if resend == nil || resend.GetReadOnly() || resend.GetTimestamp() <= req.GetTimestamp() {
		t.Fatalf("after the timeout got %+v, want an ordered retry with a fresh timestamp", resend)
	}
	if r := s.Resend(); r != nil {
		t.Fatalf("the timeout's retry was also left for Resend: %+v", r)
	}
	s2 := newSessionOf(t, true)
	req2, _ := s2.Submit([]byte("get"), true)
	for i := range uint32(3) {
		if _, ok := s2.Step(i, replyTo(req2, i, 0, "v")); ok != (i == 2) {
			t.Fatalf("reply %d: accepted=%v", i, ok)
		}
	}
}

// TestReadFallsBackAsSoonAsItsRepliesCannotAgree: once so many replies
// differ that 2f+1 can no longer match, the read is ordered at once, not
// after the retransmission timeout.
func TestReadFallsBackAsSoonAsItsRepliesCannotAgree(t *testing.T) {
	s := newSessionOf(t, true)
	req, _ := s.Submit([]byte("get"), true)
	s.Step(0, replyTo(req, 0, 0, "new"))
	if _, ok := s.Step(1, replyTo(req, 1, 0, "old")); ok || s.Resend() != nil {
		t.Fatal("fell back while 2f+1 could still agree (2 replicas have not answered)")
	}
	if _, ok := s.Step(2, replyTo(req, 2, 0, "new")); ok {
		t.Fatal("accepted a read on 2 matching replies")
	}
	if r := s.Resend(); r != nil {
		t.Fatal("fell back while the last replica could still make 3 match")
	}
	s.Step(3, replyTo(req, 3, 0, "old"))
	ordered := s.Resend()
	if ordered == nil || ordered.GetReadOnly() || ordered.GetTimestamp() <= req.GetTimestamp() || s.Outstanding() != ordered {
		t.Fatalf("after 2 and 2 differing replies: resend %+v, want the read ordered with a fresh timestamp", ordered)
	}
	if s.Resend() != nil {
		t.Fatal("Resend handed out the ordered request twice")
	}
	// The ordered read, as every operation of a fast-read cluster, needs
	// 2f+1 matching replies.
	for i := range uint32(3) {
		if _, ok := s.Step(i, replyTo(ordered, i, 0, "new")); ok != (i == 2) {
			t.Fatalf("ordered read, reply %d: accepted=%v", i, ok)
		}
	}
}

// TestWritesNeedTwoFPlusOneWhenReadsAreFast: a write accepted on f+1
// replies, one of them a Byzantine replica's, may have been executed by one
// correct replica only, which a read's 2f+1 can miss.
func TestWritesNeedTwoFPlusOneWhenReadsAreFast(t *testing.T) {
	s := newSessionOf(t, true)
	req, _ := s.Submit([]byte("put"), false)
	for i := range uint32(3) {
		if _, ok := s.Step(i, replyTo(req, i, 0, "ok")); ok != (i == 2) {
			t.Fatalf("write, reply %d: accepted=%v, want only at the third", i, ok)
		}
	}
	// A refusal by the admission check is deterministic: f+1 suffice.
	req, _ = s.Submit([]byte("bad"), false)
	for i := range uint32(2) {
		rep := replyTo(req, i, 0, "refused")
		rep.Rejected = true
		if res, ok := s.Step(i, rep); ok != (i == 1) || ok && !res.Rejected {
			t.Fatalf("refusal, reply %d: accepted=%v %+v", i, ok, res)
		}
	}
}

func TestReadsAreOrderedWithoutFastReads(t *testing.T) {
	s := newSession(t)
	req, _ := s.Submit([]byte("get"), true)
	if req.GetReadOnly() {
		t.Fatal("a read went unordered on a cluster without fast reads")
	}
	s.Step(0, replyTo(req, 0, 0, "v"))
	if _, ok := s.Step(1, replyTo(req, 1, 0, "v")); !ok {
		t.Fatal("an ordered read of a cluster without fast reads was not accepted on f+1")
	}
}

func TestRetransmitsTheSameRequestOnTimeout(t *testing.T) {
	s := newSession(t)
	req, _ := s.Submit([]byte("op"), false)
	for i := range 4 {
		if r := s.Tick(); r != nil {
			t.Fatalf("tick %d retransmitted early", i)
		}
	}
	if r := s.Tick(); r != req {
		t.Fatalf("tick 5 gave %v, want the outstanding request", r)
	}
	if s.Retransmissions() != 1 {
		t.Fatalf("retransmissions %d", s.Retransmissions())
	}
}

func TestRejectsBadConfig(t *testing.T) {
	if _, err := NewSession(Config{Replicas: 5, Signer: cryptotest.NewScheme(1).NewSigner("c")}); err == nil {
		t.Fatal("5 replicas accepted")
	}
	if _, err := NewSession(Config{Replicas: 4}); err == nil {
		t.Fatal("missing signer accepted")
	}
	if _, err := NewSession(Config{Replicas: 1, Signer: cryptotest.NewScheme(1).NewSigner("c")}); err == nil {
		t.Fatal("1 replica accepted without Unreplicated")
	}
}

func TestUnreplicatedServerNeedsOneReply(t *testing.T) {
	s, err := NewSession(Config{ClusterID: "test", Replicas: 1, Unreplicated: true, Signer: scheme.NewSigner("c"), FirstTimestamp: 10})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := s.Submit([]byte("op"), false)
	if _, ok := s.Step(1, replyTo(req, 1, 0, "x")); ok {
		t.Fatal("accepted a reply from a replica that does not exist")
	}
	res, ok := s.Step(0, replyTo(req, 0, 0, "good"))
	if !ok || string(res.Result) != "good" {
		t.Fatalf("one reply from the server: accepted=%v %+v", ok, res)
	}
}

// Each retransmission of one request waits twice as long as the last, up
// to 4 times the first timeout: a loaded cluster is not loaded further by
// every session resending at a fixed rate. A new request starts again at
// the first timeout.
func TestRetransmissionsBackOff(t *testing.T) {
	s := newSession(t) // RetransmitTicks 5
	s.Submit([]byte("op"), false)
	var gaps []int
	last := 0
	for tick := 1; tick <= 5*(1+2+4+4+4); tick++ {
		if s.Tick() != nil {
			gaps = append(gaps, tick-last)
			last = tick
		}
	}
	want := []int{5, 10, 20, 20, 20}
	if len(gaps) != len(want) {
		t.Fatalf("retransmitted after %v ticks, want %v", gaps, want)
	}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("retransmitted after %v ticks, want %v", gaps, want)
		}
	}
	req := s.Outstanding()
	for _, id := range []uint32{0, 1} {
		s.Step(id, replyTo(req, id, 0, "r"))
	}
	s.Submit([]byte("next"), false)
	for i := range 5 {
		if r := s.Tick(); (r != nil) != (i == 4) {
			t.Fatalf("a new request retransmitted at tick %d: %v", i+1, r != nil)
		}
	}
}

// A refusal by the service's admission check is accepted on f+1 matching
// replies, even for a read-only request: it is deterministic, so f+1
// include a correct replica's word.
func TestAcceptsFPlusOneRefusals(t *testing.T) {
	s := newSession(t)
	req, _ := s.Submit([]byte("op"), true)
	for i, id := range []uint32{0, 2} {
		rep := replyTo(req, id, 0, "refused")
		rep.Rejected = true
		res, ok := s.Step(id, rep)
		if ok != (i == 1) || ok && (!res.Rejected || string(res.Result) != "refused") {
			t.Fatalf("after %d refusals: %v, %+v", i+1, ok, res)
		}
	}
}
