package pbft

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// The normal case (docs/design.md, section 4): a request reaches every replica, the
// primary pre-prepares it, backups prepare, all commit and execute, and the
// client gets a reply from every replica.
func TestNormalCase(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	for i := range c.reps {
		if err := c.fromClient(i, req); err != nil {
			t.Fatal(err)
		}
	}
	c.deliver(nil)
	for i, r := range c.reps {
		if r.LastExecuted() != 1 {
			t.Errorf("replica %d executed up to %d, want 1", i, r.LastExecuted())
		}
		// The primary checks the client's signature once, before ordering
		// the request; backups hold it from the client and check nothing.
		want := uint64(0)
		if i == 0 {
			want = 1
		}
		if n := r.Stats().ClientSignaturesChecked; n != want {
			t.Errorf("replica %d checked %d client signatures, want %d", i, n, want)
		}
	}
	if len(c.replies) != 4 {
		t.Fatalf("%d replies, want 4", len(c.replies))
	}
}

// Step 4: the pre-prepare and 2f matching prepares make a batch prepared;
// fewer do not, and a prepare from the primary is refused, never counted.
func TestPreparedNeedsTwoFPreparesFromBackups(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	pp := c.prePrepareFor(c.request([]byte("op")))
	if err := c.step(0, 1, ppMsg(pp)); err != nil {
		t.Fatal(err)
	}
	c.pending = nil // backup 1's own prepare went out; it counts as one of 2f
	if err := c.step(0, 1, c.signedPrepare(0, 0, 1, pp.GetDigest())); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("prepare signed by the primary: %v, want ErrNotPrimary", err)
	}
	if c.sentCommit(1) {
		t.Fatal("backup 1 committed with its own prepare and the primary's")
	}
	short := &wire.Prepare{View: 0, Sequence: 1, Digest: []byte("short"), Replica: 3, Signature: make([]byte, 64)}
	if err := c.step(3, 1, &wire.Message{Content: &wire.Message_Prepare{Prepare: short}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("prepare with a malformed digest: %v, want ErrMalformed", err)
	}
	wrong := make([]byte, 32)
	if err := c.step(3, 1, c.signedPrepare(3, 0, 1, wrong)); err != nil {
		t.Fatal(err)
	}
	if c.sentCommit(1) {
		t.Fatal("backup 1 committed on a prepare for another digest")
	}
	if err := c.step(2, 1, c.signedPrepare(2, 0, 1, pp.GetDigest())); err != nil {
		t.Fatal(err)
	}
	if !c.sentCommit(1) {
		t.Fatal("backup 1 did not commit with the pre-prepare and 2f matching prepares")
	}
}

// Step 5: committed-local needs 2f+1 matching commits, its own included.
func TestCommittedNeedsTwoFPlusOneCommits(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	pp := c.prePrepareFor(c.request([]byte("op")))
	must(t, c.step(0, 1, ppMsg(pp)))
	must(t, c.step(2, 1, c.signedPrepare(2, 0, 1, pp.GetDigest())))
	must(t, c.step(0, 1, c.signedCommit(0, 0, 1, make([]byte, 32)))) // another digest: never counts
	must(t, c.step(2, 1, c.signedCommit(2, 0, 1, pp.GetDigest())))
	if c.reps[1].LastExecuted() != 0 {
		t.Fatal("executed with 2f matching commits")
	}
	must(t, c.step(3, 1, c.signedCommit(3, 0, 1, pp.GetDigest())))
	if c.reps[1].LastExecuted() != 1 {
		t.Fatal("not executed with 2f+1 matching commits")
	}
}

// Step 3: a backup accepts a pre-prepare only if its digest is the batch's,
// it is signed by the primary of the current view, and no other digest was
// accepted for (v, s).
func TestPrePrepareAcceptance(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request([]byte("op"))
	pp := c.prePrepareFor(req)

	lie := proto.Clone(pp).(*wire.PrePrepare)
	lie.Requests[0].Operation = []byte("other op")
	SignRequest(c.client, "test", lie.Requests[0])
	must(t, SignPrePrepare(c.signers[0], "test", lie))
	if err := c.step(0, 1, ppMsg(lie)); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("batch that does not match its digest: %v, want ErrDigestMismatch", err)
	}

	forged := proto.Clone(pp).(*wire.PrePrepare)
	forged.Signature[0] ^= 1
	if err := c.step(0, 1, ppMsg(forged)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("pre-prepare with a bad signature: %v, want ErrBadSignature", err)
	}

	notPrimary := proto.Clone(pp).(*wire.PrePrepare)
	notPrimary.Replica = 2
	must(t, SignPrePrepare(c.signers[2], "test", notPrimary))
	if err := c.step(2, 1, ppMsg(notPrimary)); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("pre-prepare from a backup: %v, want ErrNotPrimary", err)
	}

	if err := c.step(3, 1, ppMsg(pp)); !errors.Is(err, ErrSenderMismatch) {
		t.Fatalf("primary's pre-prepare relayed by replica 3: %v, want ErrSenderMismatch", err)
	}

	must(t, c.step(0, 1, ppMsg(pp)))
	other := c.request([]byte("op 2"))
	must(t, c.fromClient(1, other))
	conflict := &wire.PrePrepare{View: 0, Sequence: 1, Requests: []*wire.Request{other}, Replica: 0}
	d := BatchDigest("test", []crypto.Digest{RequestDigest("test", other)})
	conflict.Digest = d[:]
	must(t, SignPrePrepare(c.signers[0], "test", conflict))
	if err := c.step(0, 1, ppMsg(conflict)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second digest at (v, s): %v, want ErrConflict", err)
	}
}

// Requests a backup did not get from the client's own connection must carry
// the client's signature.
func TestPrePrepareRequestsMustBeAuthentic(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request([]byte("op"))
	pp := c.prePrepareFor(req)
	bad := proto.Clone(pp).(*wire.PrePrepare)
	bad.Requests[0].Signature[0] ^= 1 // the digest does not cover the signature
	if err := c.step(0, 1, ppMsg(bad)); !errors.Is(err, ErrUnauthenticRequest) {
		t.Fatalf("request with a bad client signature: %v, want ErrUnauthenticRequest", err)
	}
	must(t, c.fromClient(2, req)) // held from the client: no signature check needed
	if err := c.step(0, 2, ppMsg(bad)); err != nil {
		t.Fatalf("backup holding the request from its client: %v", err)
	}
	if n := c.reps[2].Stats().ClientSignaturesChecked; n != 0 {
		t.Fatalf("backup 2 checked %d client signatures", n)
	}
	if err := c.step(0, 1, ppMsg(pp)); err != nil {
		t.Fatalf("validly signed request: %v", err)
	}
	if n := c.reps[1].Stats().ClientSignaturesChecked; n == 0 {
		t.Fatal("backup 1 accepted a request it never held without checking its signature")
	}
}

// Watermarks: sequence numbers outside (h, h+L] are refused; the primary stops
// proposing at the high watermark until a checkpoint becomes stable.
func TestWatermarks(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize = 2, 4 })
	pp := &wire.PrePrepare{View: 0, Sequence: 5, Digest: make([]byte, 32), Replica: 0}
	must(t, SignPrePrepare(c.signers[0], "test", pp))
	if err := c.step(0, 1, ppMsg(pp)); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("pre-prepare at h+L+1: %v, want ErrOutsideWindow", err)
	}
	if err := c.step(2, 1, c.signedPrepare(2, 0, 0, make([]byte, 32))); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("prepare at h: %v, want ErrOutsideWindow", err)
	}
	// The primary alone proposes up to h+L = 4, then waits.
	for range 6 {
		must(t, c.fromClient(0, c.request([]byte("op"))))
	}
	if n := len(c.take(&wire.Message_PrePrepare{})); n != 4*3 {
		t.Fatalf("primary sent %d pre-prepares, want 4 sequence numbers to 3 backups", n)
	}
	c.pending = nil
}

// A stable checkpoint moves the window and garbage-collects the log.
func TestCheckpointAdvancesWindowAndCollectsGarbage(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize = 2, 4 })
	for range 6 {
		req := c.request([]byte("op"))
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
		c.deliver(nil)
	}
	for i, r := range c.reps {
		if r.LastExecuted() != 6 || r.StableCheckpoint() != 6 || r.RetainedSlots() != 0 {
			t.Errorf("replica %d: executed %d, stable %d, %d slots; want 6, 6, 0",
				i, r.LastExecuted(), r.StableCheckpoint(), r.RetainedSlots())
		}
	}
}

// Step 1 and the reply cache: a retransmission of the last executed request
// is answered from the cache, an older one is dropped, nothing runs twice.
func TestTimestampRuleAndReplyCache(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	first, second := c.request([]byte("a")), c.request([]byte("b"))
	for _, req := range []*wire.Request{second} {
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
		c.deliver(nil)
	}
	c.replies = nil
	must(t, c.fromClient(1, second))
	if len(c.replies) != 1 || c.replies[0].GetTimestamp() != second.GetTimestamp() {
		t.Fatalf("retransmission got %v, want the cached reply", c.replies)
	}
	if err := c.fromClient(1, first); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("older timestamp: %v, want ErrStaleTimestamp", err)
	}
	if got := c.reps[1].Stats().ExecutedRequests; got != 1 {
		t.Fatalf("executed %d requests, want 1", got)
	}
}

// A backup that holds a request the primary has not ordered forwards it to
// the primary when the client retransmits; the primary checks its signature.
func TestBackupForwardsRetransmittedRequest(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request([]byte("op"))
	must(t, c.fromClient(1, req))
	if len(c.pending) != 0 {
		t.Fatal("backup sent something on the first copy")
	}
	must(t, c.fromClient(1, req))
	if len(c.pending) != 1 || c.pending[0].to != 0 || c.pending[0].msg.GetRequest() == nil {
		t.Fatalf("backup sent %v, want the request forwarded to the primary", c.pending)
	}
	fwd := c.pending[0]
	c.pending = nil
	// Another copy at once is not forwarded again: a client resending fast
	// must not make a backup flood the primary.
	must(t, c.fromClient(1, req))
	if len(c.pending) != 0 {
		t.Fatalf("backup forwarded a second copy within one Status period: %v", c.pending)
	}
	forged := proto.Clone(req).(*wire.Request)
	forged.Signature[0] ^= 1
	if err := c.step(1, 0, msgOf(forged)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forwarded request with a bad signature: %v, want ErrBadSignature", err)
	}
	must(t, c.step(fwd.from, fwd.to, fwd.msg))
	if len(c.take(&wire.Message_PrePrepare{})) == 0 {
		t.Fatal("primary did not propose the forwarded request")
	}
	if err := c.step(0, 2, msgOf(req)); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("request forwarded to a backup: %v, want ErrNotPrimary", err)
	}
}

// A client connection may only speak for its own key.
func TestClientConnectionSpeaksOnlyForItsKey(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.request([]byte("op"))
	if err := c.reps[0].Step(FromClient(make([]byte, 32)), msgOf(req)); !errors.Is(err, ErrSenderMismatch) {
		t.Fatalf("another client's request: %v, want ErrSenderMismatch", err)
	}
	if err := c.reps[0].Step(FromClient(req.GetClientKey()), ppMsg(&wire.PrePrepare{})); !errors.Is(err, ErrSenderMismatch) {
		t.Fatalf("protocol message from a client: %v, want ErrSenderMismatch", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Only messages for the current view count.
func TestMessagesForOtherViewsAreDropped(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	if err := c.step(2, 1, c.signedPrepare(2, 1, 1, make([]byte, 32))); !errors.Is(err, ErrWrongView) {
		t.Fatalf("prepare for view 1 in view 0: %v, want ErrWrongView", err)
	}
	if err := c.step(2, 1, c.signedCommit(2, 1<<62, 1, make([]byte, 32))); !errors.Is(err, ErrWrongView) {
		t.Fatalf("commit for a far-future view: %v, want ErrWrongView", err)
	}
}

// A checkpoint becomes stable with 2f+1 matching checkpoints, not fewer, and
// one for another state digest does not count.
func TestCheckpointStableNeedsTwoFPlusOne(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize = 2, 4 })
	for range 2 {
		req := c.request([]byte("op"))
		for i := range c.reps {
			must(t, c.fromClient(i, req))
		}
		c.deliver(func(s sent) bool { return isKind(s, &wire.Message_Checkpoint{}) })
	}
	own := c.reps[1].StateDigest()
	checkpoint := func(id int, d []byte) *wire.Message {
		cp := &wire.Checkpoint{Sequence: 2, StateDigest: d, Replica: uint32(id)}
		must(t, SignCheckpoint(c.signers[id], "test", cp))
		return &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}}
	}
	must(t, c.step(0, 1, checkpoint(0, make([]byte, 32))))
	must(t, c.step(2, 1, checkpoint(2, own[:])))
	if c.reps[1].StableCheckpoint() != 0 {
		t.Fatal("stable with 2f matching checkpoints")
	}
	must(t, c.step(3, 1, checkpoint(3, own[:])))
	if c.reps[1].StableCheckpoint() != 2 {
		t.Fatal("not stable with 2f+1 matching checkpoints")
	}
}

// Two validly signed prepares from one backup for one slot with different
// digests are kept as evidence anyone can check, and counted.
func TestEquivocationIsKeptAsEvidence(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	a, b := make([]byte, 32), make([]byte, 32)
	b[0] = 1
	must(t, c.step(2, 1, c.signedPrepare(2, 0, 1, a)))
	must(t, c.step(2, 1, c.signedPrepare(2, 0, 1, a))) // a duplicate is no evidence
	if n := c.reps[1].Stats().Equivocations; n != 0 {
		t.Fatalf("%d equivocations after a duplicate", n)
	}
	forged := c.signedPrepare(2, 0, 1, b)
	forged.GetPrepare().Signature[0] ^= 1
	must(t, c.step(2, 1, forged))
	if n := c.reps[1].Stats().Equivocations; n != 0 {
		t.Fatal("a badly signed conflicting prepare counted as evidence")
	}
	must(t, c.step(2, 1, c.signedPrepare(2, 0, 1, b)))
	ev := c.reps[1].Evidence()
	if c.reps[1].Stats().Equivocations != 1 || len(ev) != 1 || ev[0].Replica != 2 {
		t.Fatalf("evidence %v", ev)
	}
	pubs := make([]crypto.PublicKey, 4)
	for i, s := range c.signers {
		pubs[i] = s.PublicKey()
	}
	if err := CheckEvidence("test", pubs, c.reps[1].cfg.Verifier, ev[0]); err != nil {
		t.Fatalf("evidence does not check: %v", err)
	}
	ev[0].Second = ev[0].First
	if err := CheckEvidence("test", pubs, c.reps[1].cfg.Verifier, ev[0]); err == nil {
		t.Fatal("two identical messages accepted as evidence")
	}
}

// The primary orders only validly signed requests: one with a forged
// signature from its client's own connection is dropped, not proposed, since
// a backup that learns it from the pre-prepare would refuse the batch. The
// primary finds it when it takes the request into a batch (checking the
// batch's signatures together), so the step that delivered it may report
// nothing; the drop is counted.
func TestPrimaryOrdersOnlyValidlySignedRequests(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	forged := c.request([]byte("forged"))
	forged.Signature[0] ^= 1
	if err := c.fromClient(0, forged); err != nil && !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged request at the primary: %v, want ErrBadSignature or a counted drop", err)
	}
	if pps := c.take(&wire.Message_PrePrepare{}); len(pps) != 0 {
		t.Fatalf("primary proposed a forged request: %v", pps)
	}
	if n := c.reps[0].Stats().Dropped[ErrBadSignature.Error()]; n != 1 {
		t.Fatalf("primary counted %d bad signatures, want 1", n)
	}
	// The client proved itself faulty on its own connection: for a while its
	// requests are dropped unchecked (one verification per penalty, not per
	// request), then served again.
	genuine := c.request([]byte("genuine"))
	if err := c.fromClient(0, genuine); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forging client's next request at once: %v, want ErrBadSignature", err)
	}
	// Nor do a backup's forwards of them: backups hold the key's requests on
	// its connection's word and forward its resends, and checking each at
	// the primary let two forging keys make it spend its time verifying
	// (the systest's forged-signature attack then cost it its view).
	if err := c.step(1, 0, msgOf(c.request([]byte("forwarded")))); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forging client's request forwarded by a backup: %v, want ErrBadSignature", err)
	}
	if checked := c.reps[0].Stats().ClientSignaturesChecked; checked != 1 {
		t.Fatalf("%d client signatures checked, want 1: a penalised key's requests cost none", checked)
	}
	for range c.reps[0].cfg.StatusTicks {
		c.reps[0].Tick()
	}
	c.collect(0)
	c.pending = nil
	must(t, c.fromClient(0, genuine))
	if len(c.take(&wire.Message_PrePrepare{})) != 3 {
		t.Fatal("primary did not propose a validly signed request once the penalty ended")
	}
}

// A backup checks the signatures of the requests it holds unordered before
// it suspects the primary over them: a client sending forged requests to
// the backups alone (which a correct primary refuses) cannot start a view
// change, while a genuine request left waiting still does.
func TestForgedRequestsDoNotMakeBackupsSuspect(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	forged := c.request([]byte("forged"))
	forged.Signature[0] ^= 1
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, forged))
	}
	for range 100 {
		c.exchangeStatus(0, 1, 2, 3)
		for i := range c.reps {
			c.reps[i].Tick()
			c.collect(i)
		}
		if vcs := c.take(&wire.Message_ViewChange{}); len(vcs) != 0 {
			t.Fatalf("a forged request made backups suspect the primary: %v", vcs)
		}
		c.deliver(nil)
	}
	for i := 1; i < 4; i++ {
		r := c.reps[i]
		if r.View() != 0 || r.ViewChanging() || r.holdsPendingRequest() {
			t.Fatalf("replica %d: view %d, changing %v, holds a request %v", i, r.View(), r.ViewChanging(), r.holdsPendingRequest())
		}
		if n := r.Stats().Dropped[ErrBadSignature.Error()]; n != 1 {
			t.Fatalf("replica %d counted %d bad signatures, want 1", i, n)
		}
	}
	genuine := c.request([]byte("genuine"))
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, genuine)) // the primary never gets it
	}
	c.tickUntilViewChange(1, 2, 3)
}

// A new primary checks the requests it held unverified as a backup before it
// orders them: a forged one that arrived during the view change is dropped.
func TestNewPrimaryOrdersOnlyValidlySignedHeldRequests(t *testing.T) {
	c := suspectedOverHeldRequest(t)
	forged := c.request([]byte("forged"))
	forged.Session = 1 // another session: the first request stays held
	forged.Signature[0] ^= 1
	must(t, c.fromClient(1, forged)) // held on the connection's word
	c.deliver(withoutPrimary)
	r := c.reps[1]
	if r.View() != 1 || r.ViewChanging() || r.LastExecuted() != 1 {
		t.Fatalf("replica 1: view %d, changing %v, executed %d; want view 1 and the held request executed",
			r.View(), r.ViewChanging(), r.LastExecuted())
	}
	if n := r.Stats().Dropped[ErrBadSignature.Error()]; n != 1 || r.holdsPendingRequest() {
		t.Fatalf("new primary counted %d bad signatures and holds a request: %v; want the forged one dropped", n, r.holdsPendingRequest())
	}
}

// A batch goes out when the last one is done, or when the queue fills a
// whole batch (up to MaxInflightBatches in flight); otherwise requests wait
// and form the next, larger batch.
func TestBatchGoesOutWhenTheLastIsDoneOrWhenFull(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize, cfg.MaxInflightBatches = 3, 4 })
	session := uint64(0)
	submit := func() {
		t.Helper()
		req := &wire.Request{ClientKey: c.client.PublicKey(), Session: session, Timestamp: 1, Operation: kv.EncodePut([]byte("k"), []byte("v"))}
		session++
		SignRequest(c.client, "test", req)
		if err := c.fromClient(0, req); err != nil {
			t.Fatal(err)
		}
	}
	batches := func() []int {
		var sizes []int
		for _, s := range c.pending {
			if pp := s.msg.GetPrePrepare(); pp != nil && s.to == 1 {
				sizes = append(sizes, len(pp.GetRequests()))
			}
		}
		return sizes
	}
	submit() // nothing in flight: out at once, alone
	if got := batches(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("batches %v, want [1]", got)
	}
	submit()
	submit() // one in flight, two queued: not a full batch, they wait
	if got := batches(); len(got) != 1 {
		t.Fatalf("batches %v: a partial batch went out while one was in flight", got)
	}
	submit() // three queued: a full batch goes out although one is in flight
	if got := batches(); len(got) != 2 || got[1] != 3 {
		t.Fatalf("batches %v, want [1 3]", got)
	}
	submit() // waits behind the two in flight
	c.deliver(nil)
	// Once both executed, the waiting request goes out on its own.
	if got := c.reps[0].LastExecuted(); got < 2 {
		t.Fatalf("primary executed %d batches, want the first two", got)
	}
	if got := c.reps[0].LastExecuted(); got != 3 {
		t.Fatalf("primary executed up to %d, want 3: the waiting request goes out when the others are done", got)
	}
}
