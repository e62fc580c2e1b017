package pbft

import "github.com/bulwark-bft/bulwark/pbft/wire"

// peerProgress is what a peer last reported in a Status.
type peerProgress struct {
	seen     bool
	lastExec uint64
	stable   uint64
}

// broadcastStatus tells every peer how far this replica got. Links may lose
// messages; a peer that learns this replica is stuck resends what it lacks.
func (r *Replica) broadcastStatus() {
	r.send(Broadcast, &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{
		View: r.view, LastExecuted: r.lastExec, StableSequence: r.low, Replica: r.cfg.ID,
	}}})
}

func (r *Replica) onStatus(from From, st *wire.Status) error {
	if err := r.checkSender(from, st.GetReplica()); err != nil {
		return err
	}
	if st.GetView() != r.view {
		return r.drop(ErrWrongView, "status for view %d, current %d", st.GetView(), r.view)
	}
	p := &r.peers[st.GetReplica()]
	stalled := p.seen && p.lastExec == st.GetLastExecuted()
	p.seen, p.lastExec, p.stable = true, st.GetLastExecuted(), st.GetStableSequence()
	if stalled {
		r.resend(int(st.GetReplica()), st)
	}
	return nil
}

// resend sends a stalled peer this replica's own messages it may be missing:
// checkpoints above its stable one, and for the sequence numbers just above
// its last executed one, the pre-prepare (if this replica issued it), its
// prepare and its commit. Only the signer resends a message, so every message
// still arrives straight from its signer. ResendLimit bounds the answer.
func (r *Replica) resend(to int, st *wire.Status) {
	k := r.cfg.CheckpointInterval
	first := max(st.GetStableSequence()/k*k+k, r.low)
	for seq := first; seq <= r.lastExec && seq <= r.low+r.cfg.WindowSize; seq += k {
		if cp := r.ownCheckpoint[seq]; cp != nil {
			r.send(to, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
		}
	}
	from := max(st.GetLastExecuted(), r.low) + 1
	last := min(from+r.cfg.ResendLimit-1, r.low+r.cfg.WindowSize)
	for seq := from; seq <= last; seq++ {
		s := r.slots[seq]
		if s == nil {
			continue
		}
		if pp := s.prePrepare; pp != nil && pp.GetReplica() == r.cfg.ID {
			r.send(to, &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}})
		}
		if p := s.prepares[r.cfg.ID]; p != nil {
			r.send(to, &wire.Message{Content: &wire.Message_Prepare{Prepare: p}})
		}
		if c := s.commits[r.cfg.ID]; c != nil {
			r.send(to, &wire.Message{Content: &wire.Message_Commit{Commit: c}})
		}
	}
}
