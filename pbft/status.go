package pbft

import "github.com/bulwark-bft/bulwark/pbft/wire"

// peerProgress is what a peer last reported in a Status.
type peerProgress struct {
	seen     bool
	lastExec uint64
	stable   uint64
	view     uint64
	changing bool
	suspects bool // it suspects the primary of view (see suspectPrimary)
	// suspicion is its signed suspicion of the primary of view, verified.
	suspicion *wire.Suspicion
	heard     uint64 // tick of its last Status
	// resends and chunks bound what its Status messages and FetchState
	// requests make this replica send (see tickBucket).
	resends, chunks tickBucket
}

// Per peer: a Status may trigger a resend once per Status period, with a
// burst of two (a restarted peer's first Status and the next); state chunks
// flow at one per tick with a burst of four.
const (
	resendBurst = 2
	chunkBurst  = 4
)

// broadcastStatus tells every peer how far this replica got. Links may lose
// messages; a peer that learns this replica is stuck resends what it lacks.
func (r *Replica) broadcastStatus() {
	r.send(Broadcast, &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{
		View: r.view, LastExecuted: r.lastExec, StableSequence: r.low, Replica: r.cfg.ID, ViewChanging: !r.active,
		Suspects: r.suspecting, Suspicion: r.statusSuspicion(),
	}}})
}

func (r *Replica) onStatus(from From, st *wire.Status) error {
	if err := r.checkSender(from, st.GetReplica()); err != nil {
		return err
	}
	p := &r.peers[st.GetReplica()]
	stalled := p.seen && p.lastExec == st.GetLastExecuted() && p.view == st.GetView() && p.changing == st.GetViewChanging() &&
		p.suspects == st.GetSuspects()
	p.seen, p.lastExec, p.stable = true, st.GetLastExecuted(), st.GetStableSequence()
	p.view, p.changing, p.heard = st.GetView(), st.GetViewChanging(), r.ticks
	p.suspects = st.GetSuspects()
	r.noteSuspicion(p, st)
	r.maybeChangeView()
	if !stalled || !r.active {
		return nil
	}
	// A stalled peer's Status costs this replica a resend; repeating it
	// faster than the Status period buys the sender nothing more.
	if !p.resends.take(r.ticks/r.cfg.StatusTicks, resendBurst) {
		r.stats.RateLimited++
		return nil
	}
	if st.GetView() < r.view || (st.GetView() == r.view && st.GetViewChanging()) {
		// It missed this view's start: every replica that holds the NEW-VIEW
		// resends it (the primary may have restarted and lost it).
		if r.newView != nil {
			r.send(int(st.GetReplica()), &wire.Message{Content: &wire.Message_NewView{NewView: r.newView}})
		}
		return nil
	}
	if st.GetView() == r.view {
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
	r.resendCheckpoints(to, st)
	r.resendVotes(to, min(max(st.GetLastExecuted(), r.low)+1, r.firstUncommitted()))
}

// firstUncommitted is the lowest sequence number this replica holds a slot
// for that is not committed here in the current view. After a view change
// the new view re-runs agreement on batches some replicas already executed;
// their votes are still needed by the others, so retransmission starts there.
func (r *Replica) firstUncommitted() uint64 {
	first := ^uint64(0)
	for seq, s := range r.slots {
		if !s.committed && seq < first {
			first = seq
		}
	}
	return first
}

// rebroadcastIfStalled: a replica whose execution stalled multicasts its own
// votes for the sequence numbers it waits on. Peers that already executed
// them (in an earlier view, say) may still lack its prepare to form the
// certificate whose commit it needs.
func (r *Replica) rebroadcastIfStalled() {
	if !r.active || r.ticks-r.progressTick < 2*r.cfg.StatusTicks || r.ticks%r.cfg.StatusTicks != 0 {
		return
	}
	r.resendVotes(Broadcast, min(r.lastExec+1, r.firstUncommitted()))
}

// resendCheckpoints sends peer to this replica's checkpoints above the
// peer's stable one.
func (r *Replica) resendCheckpoints(to int, st *wire.Status) {
	k := r.cfg.CheckpointInterval
	first := max(st.GetStableSequence()/k*k+k, r.low)
	for seq := first; seq <= r.lastExec && seq <= r.low+r.cfg.WindowSize; seq += k {
		if cp := r.ownCheckpoint[seq]; cp != nil {
			r.send(to, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
		}
	}
}

// resendVotes sends this replica's own pre-prepares, prepares and commits for
// up to ResendLimit sequence numbers from from.
func (r *Replica) resendVotes(to int, from uint64) {
	from = max(from, r.low+1)
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
