package pbft

import (
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// newViewPlan is what 2f+1 VIEW-CHANGEs determine: the latest stable
// checkpoint any of them proves, and the pre-prepares the new view re-issues.
type newViewPlan struct {
	stable      uint64
	stableProof []*wire.Checkpoint
	prePrepares []*wire.PrePrepare // unsigned; (min-s, max-s]
}

// planNewView computes O from the view changes (never from checkpoints or
// anything else the primary holds): for each s above the latest proven
// stable checkpoint up to the highest prepared one, the batch of the
// certificate from the highest view, or a null batch.
func (r *Replica) planNewView(v uint64, vcs []*wire.ViewChange) newViewPlan {
	var plan newViewPlan
	for _, vc := range vcs {
		if vc.GetStableSequence() > plan.stable || plan.stableProof == nil && vc.GetStableSequence() == plan.stable {
			plan.stable, plan.stableProof = vc.GetStableSequence(), vc.GetCheckpointProof()
		}
	}
	best := make(map[uint64]*wire.PrePrepare)
	maxS := plan.stable
	for _, vc := range vcs {
		for _, pc := range vc.GetPrepared() {
			pp := pc.GetPrePrepare()
			if pp.GetSequence() <= plan.stable {
				continue
			}
			if b := best[pp.GetSequence()]; b == nil || pp.GetView() > b.GetView() != bug(BugLowestViewCertificate) {
				best[pp.GetSequence()] = pp
			}
			maxS = max(maxS, pp.GetSequence())
		}
	}
	null := BatchDigest(r.cfg.ClusterID, nil)
	for s := plan.stable + 1; s <= maxS; s++ {
		pp := &wire.PrePrepare{View: v, Sequence: s, Digest: null[:], Replica: r.q.primary(v)}
		if b := best[s]; b != nil {
			pp.Digest = b.GetDigest()
		}
		plan.prePrepares = append(plan.prePrepares, pp)
	}
	return plan
}

// issueNewView: the new primary, holding 2f+1 VIEW-CHANGEs (its own among
// them), multicasts NEW-VIEW and enters the view.
func (r *Replica) issueNewView() {
	vcs := []*wire.ViewChange{withoutSuspicions(r.viewChanges[r.view][r.cfg.ID])}
	for id, vc := range r.viewChanges[r.view] {
		if vc != nil && uint32(id) != r.cfg.ID && len(vcs) < r.q.stable() {
			vcs = append(vcs, withoutSuspicions(vc))
		}
	}
	plan := r.planNewView(r.view, vcs)
	for _, pp := range plan.prePrepares {
		d, _ := digestOf(pp.GetDigest())
		pp.Signature = r.cfg.Signer.Sign(prePrepareTranscript(r.cfg.ClusterID, pp, d))
	}
	nv := &wire.NewView{View: r.view, ViewChanges: vcs, PrePrepares: plan.prePrepares, Replica: r.cfg.ID}
	nv.Signature = r.cfg.Signer.Sign(newViewTranscript(r.cfg.ClusterID, nv))
	// NEW-VIEW goes out before the pre-prepares entering the view issues for
	// held requests: a backup drops a pre-prepare for a view it has not
	// started, and links deliver in order.
	r.send(Broadcast, &wire.Message{Content: &wire.Message_NewView{NewView: nv}})
	r.enterView(nv, plan)
}

// onNewView accepts a NEW-VIEW, from its primary or relayed, only if its primary signed it, it rests on
// 2f+1 valid VIEW-CHANGEs for its view from distinct replicas, and
// recomputing O from them gives exactly its pre-prepares. A replica behind
// in views may accept the NEW-VIEW of any later view: it proves itself.
func (r *Replica) onNewView(from From, nv *wire.NewView) error {
	// Any replica may relay a NEW-VIEW: the primary's signature and the 2f+1
	// signed view changes inside prove it, whoever delivers it.
	v := nv.GetView()
	switch {
	case v < r.view || (v == r.view && r.active):
		r.stats.Duplicates++
		return nil
	case nv.GetReplica() != r.q.primary(v):
		return r.drop(ErrNotPrimary, "new view %d from replica %d", v, nv.GetReplica())
	}
	if err := r.verifyReplica(nv.GetReplica(), newViewTranscript(r.cfg.ClusterID, nv), nv.GetSignature()); err != nil {
		return err
	}
	vcs := nv.GetViewChanges()
	if len(vcs) < r.q.stable() || len(vcs) > r.q.n {
		return r.drop(ErrMalformed, "new view %d with %d view changes", v, len(vcs))
	}
	seen := make([]bool, r.q.n)
	for _, vc := range vcs {
		id := vc.GetReplica()
		if vc.GetNewView() != v || int(id) >= r.q.n || seen[id] {
			return r.drop(ErrMalformed, "new view %d: view change for %d from replica %d", v, vc.GetNewView(), id)
		}
		seen[id] = true
		if err := r.checkViewChange(vc); err != nil {
			return err
		}
	}
	plan := r.planNewView(v, vcs)
	if bug(BugNewViewNotRecomputed) {
		plan.prePrepares = nv.GetPrePrepares()
	}
	if len(plan.prePrepares) != len(nv.GetPrePrepares()) {
		return r.drop(ErrConflict, "new view %d re-issues %d pre-prepares, the view changes give %d",
			v, len(nv.GetPrePrepares()), len(plan.prePrepares))
	}
	for i, pp := range nv.GetPrePrepares() {
		want := plan.prePrepares[i]
		if pp.GetView() != v || pp.GetSequence() != want.GetSequence() || pp.GetReplica() != want.GetReplica() ||
			string(pp.GetDigest()) != string(want.GetDigest()) {
			return r.drop(ErrConflict, "new view %d: pre-prepare %d differs from the one the view changes give", v, pp.GetSequence())
		}
		if len(pp.GetRequests()) > 0 {
			return r.drop(ErrMalformed, "new view %d: pre-prepare %d carries its batch", v, pp.GetSequence())
		}
		d, _ := digestOf(pp.GetDigest())
		if err := r.verifyReplica(pp.GetReplica(), prePrepareTranscript(r.cfg.ClusterID, pp, d), pp.GetSignature()); err != nil {
			return err
		}
	}
	plan.prePrepares = nv.GetPrePrepares()
	r.enterView(nv, plan)
	return nil
}

// enterView starts view nv.View: it adopts the latest proven stable
// checkpoint, replaces its log with O's pre-prepares, prepares them (a
// backup), and carries on with the requests it holds.
func (r *Replica) enterView(nv *wire.NewView, plan newViewPlan) {
	r.view, r.active, r.newView = nv.GetView(), true, nv
	r.viewEnteredAt = r.ticks
	r.stopTimer()
	r.forgetViewsBelow(r.view + 1)
	r.ready.View = &ViewState{View: r.view}
	if r.suspecting {
		// It suspected the view change, which has now finished: the others
		// must not count that suspicion against the view's primary.
		r.suspecting, r.slowPrimary = false, false
		r.broadcastStatus()
	}
	// The primary persists what it issued (the NEW-VIEW and its
	// pre-prepares) before the NEW-VIEW leaves: after a crash it must not
	// assign those sequence numbers again.
	persistIssued := r.isPrimary() && !bug(BugNewViewNotPersisted)
	if persistIssued {
		r.ready.View.NewView = nv
	}
	if plan.stable > r.low {
		r.adoptStable(plan.stable, plan.stableProof)
	}
	// The batches re-issued come as digests; those this replica held in the
	// old view it keeps, the others it fetches from the replicas whose
	// certificates vouched for them.
	held := make(map[crypto.Digest][]*wire.Request)
	for _, s := range r.slots {
		if s.prePrepare != nil && len(s.prePrepare.GetRequests()) > 0 {
			held[s.digest] = s.prePrepare.GetRequests()
		}
	}
	r.slots = make(map[uint64]*slot)
	r.wants = nil
	for _, cs := range r.clients {
		cs.ordered, cs.forwardedAt, cs.timeoutForwardedAt = false, 0, 0 // the new primary was told nothing
	}
	r.nextSeq = r.low
	for _, pp := range plan.prePrepares {
		r.nextSeq = max(r.nextSeq, pp.GetSequence())
		if !r.inWindow(pp.GetSequence()) {
			continue
		}
		d, _ := digestOf(pp.GetDigest())
		s := r.slot(pp.GetSequence())
		s.prePrepare, s.digest = pp, d
		if reqs, ok := held[d]; ok {
			s.prePrepare = withRequests(pp, reqs)
		} else if !r.holdsBatch(pp, d) && pp.GetSequence() > r.lastExec {
			s.needBatch = true
			r.wantBatch(pp.GetSequence(), d, vouchers(nv.GetViewChanges(), pp.GetSequence(), pp.GetDigest()), nil)
		}
		for _, req := range s.prePrepare.GetRequests() {
			r.markOrdered(req, RequestDigest(r.cfg.ClusterID, req))
		}
		if r.isPrimary() {
			if persistIssued {
				r.persist(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: s.prePrepare}})
			}
			continue
		}
		p := &wire.Prepare{View: r.view, Sequence: pp.GetSequence(), Digest: pp.GetDigest(), Replica: r.cfg.ID}
		p.Signature = r.cfg.Signer.Sign(prepareTranscript(r.cfg.ClusterID, p, d))
		s.prepares[r.cfg.ID] = p
		pm := &wire.Message{Content: &wire.Message_Prepare{Prepare: p}}
		r.persist(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: s.prePrepare}})
		r.persist(pm)
		r.send(Broadcast, pm)
	}
	if r.isPrimary() {
		r.requeueHeld()
		r.maybePropose()
	} else if r.holdsPendingRequest() {
		r.startTimer()
	}
}

// adoptStable moves the low watermark to a checkpoint the view changes
// proved stable; a replica that has not executed that far fetches the state.
// Either way the new watermark is durable before anything it sends next:
// with the state when it holds it, else as the proof alone.
func (r *Replica) adoptStable(seq uint64, proof []*wire.Checkpoint) {
	r.prevLow, r.low, r.stableCert = r.low, seq, proof
	if _, ok := r.snapshots[seq]; ok && r.lastExec >= seq {
		r.announceStable()
	} else if !bug(BugAdoptedLowNotPersisted) {
		r.ready.Low = &wire.StableProof{Sequence: seq, Certificate: proof}
	}
	r.collectGarbage()
	if r.lastExec < seq {
		peers := make([]uint32, 0, len(proof))
		for _, cp := range proof {
			if cp.GetReplica() != r.cfg.ID {
				peers = append(peers, cp.GetReplica())
			}
		}
		r.retarget(seq, peers)
	}
}

// vouchers are the replicas that accepted batch digest at seq in an earlier
// view, by the certificates of vcs: they hold its requests.
func vouchers(vcs []*wire.ViewChange, seq uint64, digest []byte) []uint32 {
	var out []uint32
	for _, vc := range vcs {
		for _, pc := range vc.GetPrepared() {
			pp := pc.GetPrePrepare()
			if pp.GetSequence() != seq || string(pp.GetDigest()) != string(digest) {
				continue
			}
			out = append(out, vc.GetReplica(), pp.GetReplica())
			for _, p := range pc.GetPrepares() {
				out = append(out, p.GetReplica())
			}
		}
	}
	return out
}

// requeueHeld gives a new primary's queue every request it holds that the
// new view did not already order, in a deterministic order.
func (r *Replica) requeueHeld() {
	r.queue.reset()
	keys := make([]sessionKey, 0)
	for k, cs := range r.clients {
		if cs.pending != nil && !cs.ordered {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareSessionKeys)
	for _, k := range keys {
		req := r.clients[k].pending
		if !r.queue.push(queued{key: k, req: req, size: proto.Size(req)}, r.cfg.MaxQueuedPerClient, r.cfg.MaxQueuedRequests) {
			_ = r.drop(ErrQueueFull, "held request of a client whose queue is full")
		}
	}
}
