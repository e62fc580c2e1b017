package pbft

import (
	"maps"
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Fetching batches by digest. VIEW-CHANGE and NEW-VIEW carry batch digests,
// not batches (PBFT's own format), so that no batch size can make them
// larger than a frame; a replica that lacks the requests of a pre-prepare
// it holds as a digest (re-issued by a NEW-VIEW, restored from disk, or
// resent after its batch was released) fetches them from the replicas that
// vouched for it, checks them against the digest, and executes once it has
// them. Drivers answer FetchBatch from their store (Persister.Batch), where
// every replica that accepted or issued a pre-prepare keeps its requests
// until the stable checkpoint passes it. A replica releases a batch's
// requests from memory once it executed them, so memory holds only batches
// awaiting execution.

// batchWant is a batch this replica lacks: the digest it must match, who to
// ask, and, for a pre-prepare of the current view that arrived without its
// requests, that pre-prepare, accepted once they arrive.
type batchWant struct {
	digest crypto.Digest
	peers  []uint32
	next   int    // the peer to ask next
	asked  uint64 // tick of the last FetchBatch, 0 before the first
	normal *wire.PrePrepare
}

// header is pp without its requests: what certificates, NEW-VIEW and an
// executed slot keep. Signatures cover the digest, so it stays valid.
func header(pp *wire.PrePrepare) *wire.PrePrepare {
	if pp == nil || len(pp.GetRequests()) == 0 {
		return pp
	}
	return &wire.PrePrepare{View: pp.GetView(), Sequence: pp.GetSequence(), Digest: pp.GetDigest(),
		Replica: pp.GetReplica(), Signature: pp.GetSignature()}
}

// holdsBatch reports whether pp carries the requests its digest names.
func (r *Replica) holdsBatch(pp *wire.PrePrepare, d crypto.Digest) bool {
	return len(pp.GetRequests()) > 0 || d == BatchDigest(r.cfg.ClusterID, nil)
}

// wantBatch records that seq's batch d is missing, and asks peers for it.
func (r *Replica) wantBatch(seq uint64, d crypto.Digest, peers []uint32, normal *wire.PrePrepare) {
	if w := r.recordWant(seq, d, peers, normal); w != nil {
		r.askBatch(seq, w)
	}
}

// wantBatchLater records that seq's batch d is missing, to be asked of
// peers at the next tick (fetchBatches) unless it is filled in first.
func (r *Replica) wantBatchLater(seq uint64, d crypto.Digest, peers []uint32, normal *wire.PrePrepare) {
	r.recordWant(seq, d, peers, normal)
}

// recordWant records a missing batch; it returns the want if it is new.
func (r *Replica) recordWant(seq uint64, d crypto.Digest, peers []uint32, normal *wire.PrePrepare) *batchWant {
	if r.wants == nil {
		r.wants = make(map[uint64]*batchWant)
	}
	if w := r.wants[seq]; w != nil && w.digest == d {
		if normal != nil {
			w.normal = normal
		}
		return nil
	}
	var others []uint32
	for _, p := range peers {
		if p != r.cfg.ID && int(p) < r.q.n && !containsID(others, p) {
			others = append(others, p)
		}
	}
	for id := range uint32(r.q.n) { // then anyone: each keeps what it accepted
		if id != r.cfg.ID && !containsID(others, id) {
			others = append(others, id)
		}
	}
	r.wants[seq] = &batchWant{digest: d, peers: others, normal: normal}
	return r.wants[seq]
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (r *Replica) askBatch(seq uint64, w *batchWant) {
	if len(w.peers) == 0 {
		return
	}
	w.asked = r.ticks + 1 // never 0 once asked
	r.stats.BatchFetches++
	peer := w.peers[w.next%len(w.peers)]
	w.next++
	r.send(int(peer), &wire.Message{Content: &wire.Message_FetchBatch{FetchBatch: &wire.FetchBatch{
		Sequence: seq, Digest: w.digest[:], Replica: r.cfg.ID,
	}}})
}

// fetchBatches asks again, of the next peer, for every batch still missing
// a Status period after the last ask, and for the first time for those
// wanted since the last tick and not filled in since.
func (r *Replica) fetchBatches() {
	if len(r.wants) == 0 {
		return
	}
	r.resolveWanted()
	// In sequence order, not the map's: the core is deterministic, so a
	// simulator seed replays the same run.
	for _, seq := range slices.Sorted(maps.Keys(r.wants)) {
		w := r.wants[seq]
		if !r.inWindow(seq) || seq <= r.lastExec {
			delete(r.wants, seq)
			continue
		}
		if w.asked == 0 || r.ticks+1-w.asked >= r.cfg.StatusTicks { // never asked: wanted since the last tick
			r.askBatch(seq, w)
		}
	}
}

// onBatch takes the requests of a batch this replica wants, whoever sends
// them: the digest proves them.
func (r *Replica) onBatch(from From, b *wire.Batch) error {
	if err := r.checkSender(from, b.GetReplica()); err != nil {
		return err
	}
	seq := b.GetSequence()
	w := r.wants[seq]
	if w == nil || string(b.GetDigest()) != string(w.digest[:]) {
		r.stats.Duplicates++
		return nil
	}
	reqs := b.GetRequests()
	if len(reqs) > r.cfg.MaxBatchSize || batchBytes(reqs) > r.cfg.MaxBatchBytes {
		return r.drop(ErrMalformed, "batch of %d requests, %d bytes", len(reqs), batchBytes(reqs))
	}
	digests := make([]crypto.Digest, len(reqs))
	for i, req := range reqs {
		if err := r.checkRequestShape(req); err != nil {
			return err
		}
		digests[i] = RequestDigest(r.cfg.ClusterID, req)
	}
	if BatchDigest(r.cfg.ClusterID, digests) != w.digest {
		return r.drop(ErrDigestMismatch, "batch for sequence %d from replica %d", seq, b.GetReplica())
	}
	delete(r.wants, seq)
	if pp := w.normal; pp != nil {
		// A pre-prepare of this view that came as a digest: now it can be
		// checked like any other, its requests' authenticity included.
		full := withRequests(pp, reqs)
		if err := r.checkNormalPrePrepare(full, w.digest); err != nil {
			return err
		}
		return nil
	}
	s := r.slots[seq]
	if s == nil || s.prePrepare == nil || s.digest != w.digest || !s.needBatch {
		return nil
	}
	// A batch a NEW-VIEW re-issued (or restored from disk): it prepared in an
	// earlier view, so a quorum already checked its requests.
	full := withRequests(s.prePrepare, reqs)
	s.prePrepare, s.needBatch = full, false
	for i, req := range reqs {
		r.markOrdered(req, digests[i])
	}
	r.persist(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: full}})
	r.executeCommitted()
	return nil
}

// withRequests is a copy of pp carrying reqs.
func withRequests(pp *wire.PrePrepare, reqs []*wire.Request) *wire.PrePrepare {
	return &wire.PrePrepare{View: pp.GetView(), Sequence: pp.GetSequence(), Digest: pp.GetDigest(),
		Requests: reqs, Replica: pp.GetReplica(), Signature: pp.GetSignature()}
}

// BatchWants reports how many batches this replica is fetching, for tests
// and metrics.
func (r *Replica) BatchWants() int { return len(r.wants) }
