package pbft

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// tickUntilViewChange ticks replicas, letting them hear each other's Status
// (so none thinks itself cut off), until each has sent a VIEW-CHANGE. Other
// messages stay pending.
func (c *testCluster) tickUntilViewChange(ids ...int) {
	c.t.Helper()
	for range 10_000 {
		done := true
		for _, i := range ids {
			if !c.reps[i].ViewChanging() && c.reps[i].View() == 0 {
				c.reps[i].Tick()
				c.collect(i)
				done = false
			}
		}
		var rest []sent
		for _, s := range c.take(&wire.Message_Status{}) {
			if in(s.to, ids) {
				must(c.t, c.step(s.from, s.to, s.msg))
			}
		}
		rest = append(rest, c.pending...)
		c.pending = rest
		if done {
			return
		}
	}
	c.t.Fatal("no view change")
}

// exchangeStatus lets replicas hear each other's Status, so they know they
// are not cut off.
func (c *testCluster) exchangeStatus(ids ...int) {
	for _, i := range ids {
		c.reps[i].broadcastStatus()
		c.collect(i)
	}
	c.deliver(func(s sent) bool { return !isKind(s, &wire.Message_Status{}) || !in(s.to, ids) || !in(s.from, ids) })
}

func in(x int, xs []int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// suspectedOverHeldRequest is a cluster whose backups hold a client request
// the primary never got and have each sent VIEW-CHANGE for view 1 (still
// pending delivery).
func suspectedOverHeldRequest(t *testing.T) *testCluster {
	t.Helper()
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	req := c.request([]byte("held"))
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, req))
	}
	c.tickUntilViewChange(1, 2, 3)
	return c
}

func withoutPrimary(s sent) bool { return s.from == 0 || s.to == 0 }

// primaryDeadAndViewZeroVotesLost drops everything to and from the primary
// and every view-0 prepare and commit, so only a view change can finish.
func primaryDeadAndViewZeroVotesLost(s sent) bool {
	return withoutPrimary(s) || s.msg.GetPrepare().GetView() == 0 && s.msg.GetPrepare() != nil ||
		s.msg.GetCommit() != nil && s.msg.GetCommit().GetView() == 0
}

// A request that prepared at only one correct replica before the primary
// failed survives into the new view, at the same sequence number, and every
// correct replica executes it (TOCS 2002, 4.4).
func TestViewChangeKeepsARequestPreparedAtOneReplica(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	req := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, req))
	}
	pp := c.prePrepareFor(req)
	for i := 1; i < 4; i++ {
		must(t, c.step(0, i, ppMsg(pp)))
	}
	// Only replica 1 gets the other backups' prepares; then the primary dies.
	c.deliver(func(s sent) bool { return !(isKind(s, &wire.Message_Prepare{}) && s.to == 1) })
	if c.reps[2].preparedCerts[1] != nil || c.reps[3].preparedCerts[1] != nil || c.reps[1].preparedCerts[1] == nil {
		t.Fatal("setup: want the batch prepared at replica 1 only")
	}
	c.pending = nil
	for range 200 {
		c.exchangeStatus(1, 2, 3)
		for i := 1; i < 4; i++ {
			c.reps[i].Tick()
			c.collect(i)
		}
		c.deliver(primaryDeadAndViewZeroVotesLost)
		if c.reps[1].View() == 1 && !c.reps[1].ViewChanging() && c.reps[3].LastExecuted() == 1 {
			break
		}
	}
	for i := 1; i < 4; i++ {
		r := c.reps[i]
		if r.View() != 1 || r.ViewChanging() || r.LastExecuted() != 1 {
			t.Fatalf("replica %d: view %d changing %v executed %d; want view 1 started and the request executed",
				i, r.View(), r.ViewChanging(), r.LastExecuted())
		}
	}
}

// A sequence number nobody prepared, below one that did, becomes a null
// request in the new view, so execution never skips a number.
func TestNewViewFillsAGapWithANullRequest(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	first, second := c.request([]byte("first")), c.request([]byte("second"))
	must(t, c.fromClient(0, first))
	must(t, c.fromClient(0, second))
	pps := c.take(&wire.Message_PrePrepare{})
	// Sequence 1's pre-prepare is lost everywhere; sequence 2 prepares.
	for _, s := range pps {
		if s.msg.GetPrePrepare().GetSequence() == 2 {
			must(t, c.step(s.from, s.to, s.msg))
		}
	}
	c.deliver(func(s sent) bool { return isKind(s, &wire.Message_Commit{}) })
	c.pending = nil
	for _, r := range []int{1, 2, 3} { // the client's retransmission reaches the backups
		must(t, c.fromClient(r, second))
	}
	c.pending = nil
	for range 200 {
		c.exchangeStatus(1, 2, 3)
		for i := 1; i < 4; i++ {
			c.reps[i].Tick()
			c.collect(i)
		}
		c.deliver(primaryDeadAndViewZeroVotesLost)
	}
	for i := 1; i < 4; i++ {
		r := c.reps[i]
		if r.View() != 1 || r.LastExecuted() != 2 {
			t.Fatalf("replica %d: view %d executed %d; want view 1 and both sequence numbers executed", i, r.View(), r.LastExecuted())
		}
		if got := r.Stats().ExecutedRequests; got != 1 {
			t.Fatalf("replica %d executed %d requests; want only the prepared one (sequence 1 is null)", i, got)
		}
	}
}

// planNewView picks, for each sequence number, the certificate from the
// highest view, and never lets a lower view's batch win.
func TestPlanNewViewPicksTheHighestViewsCertificate(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	r := c.reps[2]
	cert := func(view uint64, op string) *wire.PreparedCertificate {
		req := c.request([]byte(op))
		d := BatchDigest("test", []crypto.Digest{RequestDigest("test", req)})
		return &wire.PreparedCertificate{PrePrepare: &wire.PrePrepare{View: view, Sequence: 1, Digest: d[:], Requests: []*wire.Request{req}}}
	}
	old, newer := cert(0, "old"), cert(1, "newer")
	vcs := []*wire.ViewChange{
		{NewView: 2, Replica: 0, Prepared: []*wire.PreparedCertificate{newer}},
		{NewView: 2, Replica: 1, Prepared: []*wire.PreparedCertificate{old}},
		{NewView: 2, Replica: 3},
	}
	for _, order := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 1, 0}} {
		plan := r.planNewView(2, []*wire.ViewChange{vcs[order[0]], vcs[order[1]], vcs[order[2]]})
		if len(plan.prePrepares) != 1 || string(plan.prePrepares[0].GetDigest()) != string(newer.GetPrePrepare().GetDigest()) {
			t.Fatalf("order %v: plan %v, want the view-1 batch at sequence 1", order, plan.prePrepares)
		}
	}
}

// viewChangeSetup runs a cluster to the point where replicas 1-3 sent
// VIEW-CHANGE for view 1 with the request prepared at replica 1, and
// returns those view changes, undelivered.
func viewChangeSetup(t *testing.T) (*testCluster, []*wire.ViewChange) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.ViewChangeTicks, cfg.StatusTicks = 20, 2 })
	req := c.request([]byte("op"))
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, req))
	}
	pp := c.prePrepareFor(req)
	for i := 1; i < 4; i++ {
		must(t, c.step(0, i, ppMsg(pp)))
	}
	c.deliver(func(s sent) bool { return !(isKind(s, &wire.Message_Prepare{}) && s.to == 1) })
	c.pending = nil
	c.exchangeStatus(1, 2, 3)
	c.tickUntilViewChange(1, 2, 3)
	var vcs []*wire.ViewChange
	for _, s := range c.take(&wire.Message_ViewChange{}) {
		if s.to == 0 && s.from != 0 { // one copy of each
			vcs = append(vcs, s.msg.GetViewChange())
		}
	}
	c.pending = nil
	if len(vcs) != 3 {
		t.Fatalf("setup: %d view changes", len(vcs))
	}
	return c, vcs
}

func nvMsg(nv *wire.NewView) *wire.Message {
	return &wire.Message{Content: &wire.Message_NewView{NewView: nv}}
}

// Backups recompute O from the view changes: a NEW-VIEW that drops a
// prepared certificate's batch (for a null request) is refused; one that
// rests on fewer than 2f+1 view changes is refused; the honest one is
// accepted.
func TestBackupsCheckTheNewView(t *testing.T) {
	c, vcs := viewChangeSetup(t)
	primary := c.signers[1]
	plan := c.reps[2].planNewView(1, vcs)
	if null := BatchDigest("test", nil); len(plan.prePrepares) != 1 || string(plan.prePrepares[0].GetDigest()) == string(null[:]) {
		t.Fatalf("setup: plan %v", plan.prePrepares)
	}
	newView := func(vcs []*wire.ViewChange, pps []*wire.PrePrepare) *wire.NewView {
		for _, pp := range pps {
			must(t, SignPrePrepare(primary, "test", pp))
		}
		nv := &wire.NewView{View: 1, ViewChanges: vcs, PrePrepares: pps, Replica: 1}
		nv.Signature = primary.Sign(newViewTranscript("test", nv))
		return nv
	}
	null := BatchDigest("test", nil)
	omitting := newView(vcs, []*wire.PrePrepare{{View: 1, Sequence: 1, Digest: null[:], Replica: 1}})
	if err := c.step(1, 2, nvMsg(omitting)); !errors.Is(err, ErrConflict) {
		t.Fatalf("NEW-VIEW omitting a prepared batch: %v, want ErrConflict", err)
	}
	dropped := newView(vcs, nil)
	if err := c.step(1, 2, nvMsg(dropped)); !errors.Is(err, ErrConflict) {
		t.Fatalf("NEW-VIEW leaving out a prepared sequence number: %v, want ErrConflict", err)
	}
	// Without replica 1's view change nothing prepared, so a null request
	// would be right, but two view changes are not 2f+1.
	short := newView([]*wire.ViewChange{vcs[0], vcs[1]}, nil)
	if err := c.step(1, 2, nvMsg(short)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("NEW-VIEW with 2f view changes: %v, want ErrMalformed", err)
	}
	honest := newView(vcs, []*wire.PrePrepare{proto.Clone(plan.prePrepares[0]).(*wire.PrePrepare)})
	must(t, c.step(1, 2, nvMsg(honest)))
	if c.reps[2].View() != 1 || c.reps[2].ViewChanging() {
		t.Fatal("the honest NEW-VIEW was not accepted")
	}
}

// f+1 VIEW-CHANGEs for higher views make a replica join the smallest; f do
// not, and one for a far-future view changes nothing.
func TestJoinRuleAndViewInflation(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	vc := func(id int, view uint64) *wire.Message {
		m := &wire.ViewChange{NewView: view, Replica: uint32(id)}
		m.Signature = c.signers[id].Sign(viewChangeTranscript("test", m))
		return &wire.Message{Content: &wire.Message_ViewChange{ViewChange: m}}
	}
	if err := c.step(1, 3, vc(1, 1<<63)); !errors.Is(err, ErrWrongView) {
		t.Fatalf("view change for 2^63: %v, want ErrWrongView", err)
	}
	must(t, c.step(1, 3, vc(1, 3)))
	if c.reps[3].View() != 0 {
		t.Fatal("joined on f view changes")
	}
	must(t, c.step(2, 3, vc(2, 2)))
	if c.reps[3].View() != 2 || !c.reps[3].ViewChanging() {
		t.Fatalf("view %d after f+1 view changes for views 3 and 2; want to join view 2", c.reps[3].View())
	}
}

// A new primary sends NEW-VIEW before the pre-prepares it issues for the
// requests it holds: links deliver in order, and a backup drops a
// pre-prepare for a view it has not started.
func TestNewViewPrecedesTheNewPrimarysPrePrepares(t *testing.T) {
	c := suspectedOverHeldRequest(t)
	for _, s := range c.take(&wire.Message_ViewChange{}) {
		if s.to == 1 {
			must(t, c.step(s.from, s.to, s.msg))
		}
	}
	var order []string
	for _, s := range c.pending {
		if s.from == 1 && s.to == 2 {
			order = append(order, kindOf(s.msg))
		}
	}
	want := []string{kindOf(&wire.Message{Content: &wire.Message_NewView{}}), kindOf(ppMsg(nil))}
	if len(order) < 2 || order[0] != want[0] || order[1] != want[1] {
		t.Fatalf("new primary sent replica 2 %v; want NEW-VIEW, then the pre-prepare", order)
	}
}
