package pbft

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// maybePropose issues pre-prepares while the primary has queued requests and
// the window has room: a batch goes out when the last one is done, or, up to
// MaxInflightBatches awaiting execution, when the queue fills a whole batch
// (by count or by bytes) with requests of keys not held at their share.
// Requests that arrive while a batch is in flight wait and form the next,
// larger one: batching adapts to load without a timer, and every batch not
// issued saves each replica a round of signatures.
func (r *Replica) maybePropose() {
	if !r.isPrimary() || !r.active {
		return
	}
	for r.queue.len() > 0 && r.nextSeq < r.low+r.cfg.WindowSize {
		if inflight := r.nextSeq - min(r.lastExec, r.nextSeq); inflight > 0 &&
			(inflight >= r.cfg.MaxInflightBatches || !r.queue.fillsBatch(r.cfg.MaxBatchSize, r.cfg.MaxBatchBytes, r.atInflightShare, r.othersInFlight)) {
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
	taken := r.queue.take(r.cfg.MaxBatchSize, r.cfg.MaxBatchBytes, r.stillToOrder, r.atInflightShare, r.othersInFlight)
	r.verifyTaken(taken)
	for _, q := range taken {
		cs := r.clients[q.key]
		if !cs.verified { // forged: verifyTaken dropped it
			continue
		}
		cs.ordered = true
		batch = append(batch, q.req)
		if r.inflight == nil {
			r.inflight = make(map[string]inflightUse)
		}
		u := r.inflight[q.key.client]
		r.inflight[q.key.client] = inflightUse{requests: u.requests + 1, bytes: u.bytes + q.size}
	}
	return batch
}

// verifyTaken checks, in one batch (crypto.VerifyBatch), the client
// signatures of the taken requests not checked yet: those from their
// clients' connections, which the primary checks only now, once, since it
// orders only requests every correct backup accepts, and those held since
// before this replica became primary. A forged one is dropped, and its key,
// which sent it on its own connection, penalised (see penalise).
func (r *Replica) verifyTaken(taken []queued) {
	var items []crypto.Item
	var unchecked []queued
	for _, q := range taken {
		if cs := r.clients[q.key]; !cs.verified {
			unchecked = append(unchecked, q)
			items = append(items, clientItem(r.cfg.ClusterID, q.req))
		}
	}
	if len(items) == 0 {
		return
	}
	r.stats.ClientSignaturesChecked += uint64(len(items))
	for i, ok := range crypto.VerifyBatch(r.cfg.Verifier, items) {
		q := unchecked[i]
		cs := r.clients[q.key]
		if !ok {
			r.clearPending(q.key, cs)
			r.penalise(q.key.client)
			_ = r.drop(ErrBadSignature, "request with a forged signature")
			continue
		}
		cs.verified = true
	}
}

// inflightUse is what one client key has ordered at this primary that has
// not executed.
type inflightUse struct{ requests, bytes int }

// atInflightShare reports whether a client key has its share of the
// pipeline, a sixteenth of a batch by count or by bytes, ordered here but not
// yet executed: while other keys wait, it waits too (see admission.take). A
// key that floods, or sends large requests, then takes the agreement's
// capacity only when nobody else needs it, and others' requests do not
// queue behind its batches.
func (r *Replica) atInflightShare(client string, taking inflightUse) bool {
	u := r.inflight[client]
	return u.requests+taking.requests >= max(r.cfg.MaxBatchSize/16, 1) || u.bytes+taking.bytes >= r.cfg.MaxBatchBytes/16
}

// othersInFlight reports whether a key other than client has requests
// ordered here that have not executed, or had one executed within the last
// recentBatches batches: a closed-loop client sends its next request as its
// last one executes, and the flood must not fill the pipeline in between.
func (r *Replica) othersInFlight(client string) bool {
	_, mine := r.inflight[client]
	if mine && len(r.inflight) > 1 || !mine && len(r.inflight) > 0 {
		return true
	}
	other := r.recent[0]
	if other.key == client {
		other = r.recent[1]
	}
	return other.key != "" && other.seq+r.recentBatches() >= r.lastExec
}

// recentBatches is how many batches a key served counts as still active:
// twice the pipeline, about one client round trip under load.
func (r *Replica) recentBatches() uint64 { return 2 * r.cfg.MaxInflightBatches }

// recentKey is a client key and the sequence number at which a request of
// it last executed at this primary. Replica.recent holds the last two
// distinct keys: whichever key asks, the other slot names the latest other
// key served, so the check is O(1) however many keys there are.
type recentKey struct {
	key string
	seq uint64
}

// executedAtPrimary takes a request executed at seq off its key's in-flight
// use and records the key as recently served.
func (r *Replica) executedAtPrimary(req *wire.Request, seq uint64) {
	k := string(req.GetClientKey())
	if r.recent[0].key == k {
		r.recent[0].seq = seq
	} else {
		r.recent[1], r.recent[0] = r.recent[0], recentKey{key: k, seq: seq}
	}
	u, ok := r.inflight[k]
	if !ok {
		return
	}
	if u.requests <= 1 {
		delete(r.inflight, k)
		return
	}
	r.inflight[k] = inflightUse{requests: u.requests - 1, bytes: max(0, u.bytes-proto.Size(req))}
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
	r.send(Broadcast, &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: wireForm(pp, digests)}})
	r.maybePrepared(r.nextSeq, s)
}
