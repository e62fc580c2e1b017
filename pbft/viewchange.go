package pbft

import (
	"slices"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// ViewState is the view a replica persists before it reveals it: before a
// VIEW-CHANGE for it, and on accepting its NEW-VIEW.
type ViewState struct {
	View uint64
	// Changing: VIEW-CHANGE sent, NEW-VIEW not yet accepted.
	Changing bool
	// NewView is the NEW-VIEW that started View when this replica issued it
	// as the primary: persisted with the view, so that after a restart it
	// neither issues another nor lacks the one to resend.
	NewView *wire.NewView
}

// startViewChange stops normal operation in the current view and multicasts
// VIEW-CHANGE for view v with this replica's stable checkpoint proof and its
// prepared certificates above it.
func (r *Replica) startViewChange(v uint64) {
	var suspicions []*wire.Suspicion
	if v == r.view+1 {
		suspicions = r.suspicionsOfView(r.view) // why it leaves, for the others to check
	}
	r.failedViews++ // reset when a request executes
	r.view, r.active, r.suspecting, r.slowPrimary = v, false, false, false
	r.stopTimer()
	r.queue.reset()
	r.inflight, r.recent = nil, [2]recentKey{}
	r.newView = nil
	r.ready.View = &ViewState{View: v, Changing: true}
	vc := &wire.ViewChange{NewView: v, StableSequence: r.low, CheckpointProof: r.stableCert, Replica: r.cfg.ID}
	seqs := make([]uint64, 0, len(r.preparedCerts))
	for seq := range r.preparedCerts {
		if seq > r.low && seq <= r.low+r.cfg.WindowSize {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		vc.Prepared = append(vc.Prepared, r.preparedCerts[seq])
	}
	vc.Signature = r.cfg.Signer.Sign(viewChangeTranscript(r.cfg.ClusterID, vc))
	vc.Suspicions = suspicions // outside the signature: each is signed
	r.forgetViewsBelow(v)
	r.viewChangesFor(v)[r.cfg.ID] = vc
	r.send(Broadcast, &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}})
	r.afterViewChange()
}

func (r *Replica) viewChangesFor(v uint64) []*wire.ViewChange {
	vcs := r.viewChanges[v]
	if vcs == nil {
		vcs = make([]*wire.ViewChange, r.q.n)
		r.viewChanges[v] = vcs
	}
	return vcs
}

func (r *Replica) forgetViewsBelow(v uint64) {
	for view := range r.viewChanges {
		if view < v {
			delete(r.viewChanges, view)
		}
	}
}

func countNonNil[T any](xs []*T) int {
	n := 0
	for _, x := range xs {
		if x != nil {
			n++
		}
	}
	return n
}

// afterViewChange runs whenever the view changes collected for the pending
// view grow: the NEW-VIEW timer starts once 2f+1 are in (not before, so
// faulty replicas cannot rush correct ones through views), and the new
// primary issues NEW-VIEW.
func (r *Replica) afterViewChange() {
	if r.active || countNonNil(r.viewChanges[r.view]) < r.q.stable() {
		return
	}
	r.startTimer()
	if r.isPrimary() {
		r.issueNewView()
	}
}

func (r *Replica) onViewChange(from From, vc *wire.ViewChange) error {
	if err := r.checkSender(from, vc.GetReplica()); err != nil {
		return err
	}
	v := vc.GetNewView()
	switch {
	case v < r.view || (v == r.view && r.active):
		return r.drop(ErrWrongView, "view change to %d in view %d", v, r.view)
	case v > r.view+r.cfg.MaxFutureViews:
		return r.drop(ErrWrongView, "view change to %d, too far beyond view %d", v, r.view)
	}
	if r.viewChangesFor(v)[vc.GetReplica()] != nil {
		r.stats.Duplicates++
		return nil
	}
	if err := r.checkViewChange(vc); err != nil {
		return err
	}
	r.viewChangesFor(v)[vc.GetReplica()] = vc
	if r.joinOnSuspicions(vc) || r.maybeJoin() {
		return nil
	}
	if v == r.view {
		r.afterViewChange()
	}
	return nil
}

// maybeJoin: f+1 replicas asking for views above this replica's include a
// correct one, so it joins the smallest such view at once.
func (r *Replica) maybeJoin() bool {
	views := make([]uint64, 0, len(r.viewChanges))
	for v := range r.viewChanges {
		if v > r.view {
			views = append(views, v)
		}
	}
	slices.Sort(views)
	asking := make([]bool, r.q.n)
	n := 0
	for _, v := range views {
		for id, vc := range r.viewChanges[v] {
			if vc != nil && !asking[id] {
				asking[id] = true
				n++
			}
		}
	}
	if n <= r.q.f {
		return false
	}
	r.startViewChange(views[0])
	return true
}

// checkViewChange validates a VIEW-CHANGE: its signature, its checkpoint
// proof, and each prepared certificate (inside the window above the
// checkpoint, at most one per sequence number, from a view below the new one).
func (r *Replica) checkViewChange(vc *wire.ViewChange) error {
	if len(vc.GetSuspicions()) > r.q.f+1 {
		return r.drop(ErrMalformed, "view change with %d suspicions, at most f+1 = %d", len(vc.GetSuspicions()), r.q.f+1)
	}
	if err := r.verifyReplica(vc.GetReplica(), viewChangeTranscript(r.cfg.ClusterID, vc), vc.GetSignature()); err != nil {
		return err
	}
	stable := vc.GetStableSequence()
	if stable%r.cfg.CheckpointInterval != 0 {
		return r.drop(ErrMalformed, "view change with checkpoint %d", stable)
	}
	if stable > 0 {
		if _, err := r.checkCertificate(stable, vc.GetCheckpointProof()); err != nil {
			return err
		}
	}
	seen := make(map[uint64]bool, len(vc.GetPrepared()))
	for _, pc := range vc.GetPrepared() {
		seq := pc.GetPrePrepare().GetSequence()
		if seq <= stable || seq > stable+r.cfg.WindowSize || seen[seq] {
			return r.drop(ErrMalformed, "prepared certificate at %d with checkpoint %d", seq, stable)
		}
		seen[seq] = true
		if err := r.checkPreparedCertificate(pc, vc.GetNewView()); err != nil {
			return err
		}
	}
	return nil
}

// checkPreparedCertificate: a pre-prepare signed by its view's primary whose
// digest is its batch's, and 2f matching prepares from distinct backups.
func (r *Replica) checkPreparedCertificate(pc *wire.PreparedCertificate, below uint64) error {
	pp := pc.GetPrePrepare()
	d, err := digestOf(pp.GetDigest())
	if err != nil {
		r.stats.Dropped[ErrMalformed.Error()]++
		return err
	}
	primary := r.q.primary(pp.GetView())
	if pp.GetView() >= below || pp.GetReplica() != primary {
		return r.drop(ErrMalformed, "prepared certificate from view %d by replica %d", pp.GetView(), pp.GetReplica())
	}
	if len(pp.GetRequests()) > 0 {
		// Certificates carry digests: batches in them would let one large
		// batch make every VIEW-CHANGE, and the NEW-VIEW, outgrow a frame.
		return r.drop(ErrMalformed, "prepared certificate at %d carries its batch", pp.GetSequence())
	}
	if err := r.verifyReplica(primary, prePrepareTranscript(r.cfg.ClusterID, pp, d), pp.GetSignature()); err != nil {
		return err
	}
	seen := make([]bool, r.q.n)
	n := 0
	for _, p := range pc.GetPrepares() {
		id := p.GetReplica()
		if int(id) >= r.q.n || id == primary || seen[id] || p.GetView() != pp.GetView() ||
			p.GetSequence() != pp.GetSequence() || string(p.GetDigest()) != string(d[:]) {
			continue
		}
		if err := r.verifyReplica(id, prepareTranscript(r.cfg.ClusterID, p, d), p.GetSignature()); err != nil {
			return err
		}
		seen[id] = true
		n++
	}
	if n < r.q.prepared() && !(bug(BugViewChangeCertShort) && n == r.q.prepared()-1) {
		return r.drop(ErrMalformed, "prepared certificate at %d with %d valid prepares", pp.GetSequence(), n)
	}
	return nil
}

// resendViewChange multicasts this replica's VIEW-CHANGE again while it waits
// for a NEW-VIEW: the first copies may have been lost, and replicas that were
// cut off need f+1 of them to join.
func (r *Replica) resendViewChange() {
	if vc := r.viewChanges[r.view][r.cfg.ID]; vc != nil {
		r.send(Broadcast, &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}})
	}
}
