package pbft

import (
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// maybePropose issues pre-prepares while the primary has queued requests and
// the window has room: a batch goes out when the last one is done, or, up to
// MaxInflightBatches awaiting execution, when the queue fills a whole batch
// (by count or by bytes). Requests that arrive while a batch is in flight
// wait and form the next, larger one: batching adapts to load without a
// timer, and every batch not issued saves each replica a round of
// signatures.
func (r *Replica) maybePropose() {
	if !r.isPrimary() || !r.active {
		return
	}
	for r.queue.len() > 0 && r.nextSeq < r.low+r.cfg.WindowSize {
		if inflight := r.nextSeq - min(r.lastExec, r.nextSeq); inflight > 0 &&
			(inflight >= r.cfg.MaxInflightBatches || r.queue.len() < r.cfg.MaxBatchSize && r.queue.bytes < r.cfg.MaxBatchBytes) {
			return
		}
		batch := r.takeBatch()
		if len(batch) == 0 {
			return
		}
		r.propose(batch)
	}
}

// takeBatch takes, round-robin across client keys, up to MaxBatchSize
// requests and MaxBatchBytes bytes that are still each session's
// outstanding, unordered request.
func (r *Replica) takeBatch() []*wire.Request {
	var batch []*wire.Request
	for _, q := range r.queue.take(r.cfg.MaxBatchSize, r.cfg.MaxBatchBytes, r.stillToOrder) {
		cs := r.clients[q.key]
		if !cs.verified { // held since before this replica became primary
			if !r.verifyClient(q.req) {
				r.clearPending(q.key, cs)
				_ = r.drop(ErrBadSignature, "held request with a forged signature")
				continue
			}
			cs.verified = true
		}
		cs.ordered = true
		batch = append(batch, q.req)
	}
	return batch
}

// propose assigns the next sequence number to batch and multicasts it.
func (r *Replica) propose(batch []*wire.Request) {
	r.nextSeq++
	digests := make([]crypto.Digest, len(batch))
	for i, req := range batch {
		digests[i] = r.clients[keyOf(req)].pendingDigest
	}
	d := BatchDigest(r.cfg.ClusterID, digests)
	pp := &wire.PrePrepare{View: r.view, Sequence: r.nextSeq, Digest: d[:], Requests: batch, Replica: r.cfg.ID}
	pp.Signature = r.cfg.Signer.Sign(prePrepareTranscript(r.cfg.ClusterID, pp, d))
	s := r.slot(r.nextSeq)
	s.prePrepare, s.digest = pp, d
	m := &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}
	r.persist(m)
	r.send(Broadcast, m)
	r.maybePrepared(r.nextSeq, s)
}
