package pbft

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Suspicions are signed, so that the f+1 of them that make a replica send
// its VIEW-CHANGE can travel with it: a replica still working in the old
// view that receives a VIEW-CHANGE carrying f+1 valid suspicions of its
// primary joins (f+1 include a correct replica's, whose timer fired or who
// measured the primary slow). Without that, a Byzantine replica could claim
// a suspicion beside a correct replica's lone one and then withhold its own
// VIEW-CHANGE, leaving the correct one alone in the next view.

// statusSuspicion is this replica's signed suspicion of its view's
// primary (working in the view, or waiting for its NEW-VIEW), or nil when
// it suspects nothing.
func (r *Replica) statusSuspicion() *wire.Suspicion {
	if !r.suspecting {
		return nil
	}
	if s := r.ownSuspicion; s != nil && s.GetView() == r.view {
		return s
	}
	s := &wire.Suspicion{View: r.view, Replica: r.cfg.ID}
	s.Signature = r.cfg.Signer.Sign(suspicionTranscript(r.cfg.ClusterID, s.View, s.Replica))
	r.ownSuspicion = s
	return s
}

// noteSuspicion keeps the signed suspicion of peer p's Status, if valid
// (checked once per view and replica).
func (r *Replica) noteSuspicion(p *peerProgress, st *wire.Status) {
	s := st.GetSuspicion()
	switch {
	case !p.suspects || s == nil || s.GetView() != st.GetView() || s.GetReplica() != st.GetReplica():
		p.suspicion = nil
	case p.suspicion != nil && p.suspicion.GetView() == s.GetView():
	case r.validSuspicion(s):
		p.suspicion = s
	default:
		p.suspicion = nil
	}
}

func (r *Replica) validSuspicion(s *wire.Suspicion) bool {
	return r.verifyReplica(s.GetReplica(), suspicionTranscript(r.cfg.ClusterID, s.GetView(), s.GetReplica()), s.GetSignature()) == nil
}

// suspicionsOfView are the signed suspicions of view v's primary this
// replica holds, its own first: what its VIEW-CHANGE for v+1 carries, at
// most f+1.
func (r *Replica) suspicionsOfView(v uint64) []*wire.Suspicion {
	var out []*wire.Suspicion
	if s := r.ownSuspicion; s != nil && s.GetView() == v {
		out = append(out, s)
	}
	for id, p := range r.peers {
		if len(out) > r.q.f {
			break
		}
		if uint32(id) != r.cfg.ID && p.suspicion != nil && p.suspicion.GetView() == v {
			out = append(out, p.suspicion)
		}
	}
	return out
}

// joinOnSuspicions: a VIEW-CHANGE for the next view carries the signed
// suspicions of the current view's primary that made its sender leave.
// With those and the VIEW-CHANGEs for the next view already held, f+1
// distinct replicas suspect or have left: this replica leaves too, whether
// it works in the view or still waits for its NEW-VIEW.
func (r *Replica) joinOnSuspicions(vc *wire.ViewChange) bool {
	if vc.GetNewView() != r.view+1 || len(vc.GetSuspicions()) == 0 {
		return false
	}
	leaving := make([]bool, r.q.n)
	for id, other := range r.viewChangesFor(r.view + 1) {
		leaving[id] = other != nil
	}
	for _, s := range vc.GetSuspicions() {
		if id := int(s.GetReplica()); s.GetView() == r.view && id < r.q.n && !leaving[id] && r.validSuspicion(s) {
			leaving[id] = true
		}
	}
	if n := len(slices.DeleteFunc(leaving, func(b bool) bool { return !b })); n <= r.q.f {
		return false
	}
	r.startViewChange(r.view + 1)
	return true
}

// withoutSuspicions is vc as a NEW-VIEW carries it: the suspicions have
// done their work, and the NEW-VIEW stays within its size bound.
func withoutSuspicions(vc *wire.ViewChange) *wire.ViewChange {
	if len(vc.GetSuspicions()) == 0 {
		return vc
	}
	c := proto.Clone(vc).(*wire.ViewChange)
	c.Suspicions = nil
	return c
}
