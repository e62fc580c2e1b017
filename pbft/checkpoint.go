package pbft

import (
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// checkpointVotes holds the first checkpoint from each replica for one
// sequence number.
type checkpointVotes struct {
	msgs []*wire.Checkpoint
}

func (r *Replica) votes(seq uint64) *checkpointVotes {
	v := r.checkpoints[seq]
	if v == nil {
		v = &checkpointVotes{msgs: make([]*wire.Checkpoint, r.q.n)}
		r.checkpoints[seq] = v
	}
	return v
}

// StateDigest is the digest of the current replicated state (the service's
// and the client table's), as a checkpoint taken now would certify it. It
// encodes and hashes the whole state: tests and simulations compare states
// with it; a driver answering status queries uses CheckpointDigest.
func (r *Replica) StateDigest() crypto.Digest {
	blob, err := r.stateBlob()
	if err != nil {
		return crypto.Digest{}
	}
	t := buildTree(r.cfg.ClusterID, blob, r.cfg.StateChunkSize)
	return stateDigestOf(r.cfg.ClusterID, t.root(), len(blob))
}

// CheckpointDigest is the sequence number and state digest of this
// replica's latest checkpoint (0 and the initial state's digest before the
// first): known without computing anything.
func (r *Replica) CheckpointDigest() (uint64, crypto.Digest) {
	var best *wire.Checkpoint
	for seq, cp := range r.ownCheckpoint {
		if seq <= r.lastExec && (best == nil || seq > best.GetSequence()) {
			best = cp
		}
	}
	if best == nil {
		return 0, *r.genesis
	}
	return best.GetSequence(), crypto.Digest(best.GetStateDigest())
}

// takeCheckpoint evicts sessions by the table's rule, keeps the state and
// multicasts this replica's checkpoint after executing seq.
func (r *Replica) takeCheckpoint(seq uint64) {
	r.evictSessions(seq)
	snap, ok := r.keepSnapshot(seq)
	if !ok {
		return // a service that cannot snapshot cannot checkpoint
	}
	d := snap.digest
	cp := &wire.Checkpoint{Sequence: seq, StateDigest: d[:], Replica: r.cfg.ID}
	cp.Signature = r.cfg.Signer.Sign(checkpointTranscript(r.cfg.ClusterID, cp, d))
	r.ownCheckpoint[seq] = cp
	r.votes(seq).msgs[r.cfg.ID] = cp
	r.send(Broadcast, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
	r.maybeStable(seq)
}

func (r *Replica) onCheckpoint(from From, cp *wire.Checkpoint) error {
	if err := r.checkSender(from, cp.GetReplica()); err != nil {
		return err
	}
	seq := cp.GetSequence()
	if seq%r.cfg.CheckpointInterval != 0 {
		return r.drop(ErrMalformed, "checkpoint at %d, not a multiple of %d", seq, r.cfg.CheckpointInterval)
	}
	if seq <= r.low {
		// The rest of an already stable checkpoint's votes arrive late as a
		// matter of course: not a drop worth a metric.
		r.stats.Late++
		return nil
	}
	d, err := digestOf(cp.GetStateDigest())
	if err != nil {
		r.stats.Dropped[ErrMalformed.Error()]++
		return err
	}
	if r.inWindow(seq) && r.votes(seq).msgs[cp.GetReplica()] != nil {
		if prev := r.votes(seq).msgs[cp.GetReplica()]; string(prev.GetStateDigest()) != string(cp.GetStateDigest()) {
			r.noteEquivocation(cp.GetReplica(), &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: prev}},
				&wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
		}
		r.stats.Duplicates++
		return nil
	}
	if err := r.verifyReplica(cp.GetReplica(), checkpointTranscript(r.cfg.ClusterID, cp, d), cp.GetSignature()); err != nil {
		return err
	}
	if !r.inWindow(seq) {
		// Beyond the window: keep only each replica's latest, which is all a
		// replica that fell behind needs to learn where to transfer state to.
		if prev := r.ahead[cp.GetReplica()]; prev == nil || prev.GetSequence() < seq {
			r.ahead[cp.GetReplica()] = cp
			r.learnCertificate(r.ahead)
		}
		return nil
	}
	r.votes(seq).msgs[cp.GetReplica()] = cp
	r.maybeStable(seq)
	return nil
}

// maybeStable makes seq the stable checkpoint once 2f+1 replicas, this one
// included, signed the same state digest for it.
func (r *Replica) maybeStable(seq uint64) {
	if seq <= r.low {
		return
	}
	own := r.ownCheckpoint[seq]
	if own == nil {
		// Not executed here yet: if 2f+1 agree, that is where to transfer
		// state to should this replica stay stuck.
		r.learnCertificate(r.votes(seq).msgs)
		return
	}
	var cert []*wire.Checkpoint
	var others map[string]int // digests other than this replica's, by signers: rare
	for _, cp := range r.votes(seq).msgs {
		if cp == nil {
			continue
		}
		if string(cp.GetStateDigest()) == string(own.GetStateDigest()) {
			cert = append(cert, cp)
		} else {
			if others == nil {
				others = make(map[string]int)
			}
			others[string(cp.GetStateDigest())]++
		}
	}
	if len(cert) < r.q.stable() {
		r.noteDivergence(seq, others)
		return
	}
	r.prevLow, r.low, r.stableCert = r.low, seq, cert
	r.announceStable()
	r.collectGarbage()
	r.maybePropose()
}

// collectGarbage drops everything at or below the stable checkpoint; only
// this replica's own checkpoint at h stays, for peers still missing it.
func (r *Replica) collectGarbage() {
	for seq := range r.slots {
		if seq <= r.low {
			delete(r.slots, seq)
		}
	}
	for seq := range r.checkpoints {
		if seq <= r.low {
			delete(r.checkpoints, seq)
		}
	}
	for seq := range r.ownCheckpoint {
		if seq < r.low {
			delete(r.ownCheckpoint, seq)
		}
	}
	// Snapshots go one checkpoint later, so a peer's download that started
	// on the previous stable checkpoint can finish.
	for seq := range r.snapshots {
		if seq < r.prevLow {
			delete(r.snapshots, seq)
		}
	}
	for seq := range r.preparedCerts {
		if seq <= r.low {
			delete(r.preparedCerts, seq)
		}
	}
	for i, cp := range r.ahead {
		if cp != nil && cp.GetSequence() <= r.low+r.cfg.WindowSize {
			r.ahead[i] = nil
		}
	}
}

// announceStable hands the new stable checkpoint, with the state it covers,
// to the driver to persist.
func (r *Replica) announceStable() {
	r.ready.Stable = &wire.StateSnapshot{
		Sequence: r.low, State: r.snapshots[r.low].blob, Certificate: r.stableCert, Replica: r.cfg.ID,
	}
}

// StableCertificate is the 2f+1 checkpoints proving the low watermark.
func (r *Replica) StableCertificate() []*wire.Checkpoint { return r.stableCert }

// Divergence is a checkpoint at which 2f+1 other replicas signed a state
// digest different from this replica's own: its state is not the
// cluster's (a different service or version, or a non-deterministic one).
// It catches up by state transfer like a replica that fell behind; the
// driver logs it, because a service that diverges once will again.
type Divergence struct {
	Sequence    uint64
	Own, Quorum crypto.Digest
}

// noteDivergence records seq's divergence if some digest other than this
// replica's has 2f+1 signers.
func (r *Replica) noteDivergence(seq uint64, others map[string]int) {
	if r.diverged != nil && r.diverged.Sequence >= seq {
		return
	}
	for d, n := range others {
		if n >= r.q.stable() {
			div := &Divergence{Sequence: seq}
			copy(div.Own[:], r.ownCheckpoint[seq].GetStateDigest())
			copy(div.Quorum[:], d)
			r.diverged = div
			r.divergences++
			return
		}
	}
}

// LastDivergence is the latest checkpoint at which this replica's state
// digest differed from one 2f+1 others signed, and how many there were.
func (r *Replica) LastDivergence() (count uint64, last *Divergence) { return r.divergences, r.diverged }
