package pbft

import (
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// queued is a request waiting at the primary for a batch.
type queued struct {
	key sessionKey
	req *wire.Request
}

// maybePropose issues pre-prepares while the primary has queued requests and
// the window has room: a batch goes out when the last one is done, or, up to
// MaxInflightBatches awaiting execution, when the queue fills a whole batch.
// Requests that arrive while a batch is in flight wait and form the next,
// larger one: batching adapts to load without a timer, and every batch not
// issued saves each replica a round of signatures.
func (r *Replica) maybePropose() {
	if !r.isPrimary() || !r.active {
		return
	}
	for len(r.queue) > 0 && r.nextSeq < r.low+r.cfg.WindowSize {
		if inflight := r.nextSeq - r.lastExec; inflight > 0 &&
			(inflight >= r.cfg.MaxInflightBatches || len(r.queue) < r.cfg.MaxBatchSize) {
			return
		}
		batch := r.takeBatch()
		if len(batch) == 0 {
			return
		}
		r.propose(batch)
	}
}

// takeBatch pops up to MaxBatchSize requests that are still each session's
// outstanding, unordered request.
func (r *Replica) takeBatch() []*wire.Request {
	var batch []*wire.Request
	n := 0
	for n < len(r.queue) && len(batch) < r.cfg.MaxBatchSize {
		q := r.queue[n]
		n++
		cs := r.clients[q.key]
		if cs == nil || cs.pending != q.req || cs.ordered {
			continue // executed, superseded or already ordered meanwhile
		}
		if !cs.verified { // held since before this replica became primary
			if !r.verifyClient(q.req) {
				cs.pending, cs.authentic = nil, false
				_ = r.drop(ErrBadSignature, "held request with a forged signature")
				continue
			}
			cs.verified = true
		}
		cs.ordered = true
		batch = append(batch, q.req)
	}
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go
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
