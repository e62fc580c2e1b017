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
		inflight := r.nextSeq - min(r.lastExec, r.nextSeq)
		if bug(BugDemandShareInFlight) {
			r.demandShare = true
			r.countDemand()
		}
		if inflight > 0 &&
			(inflight >= r.cfg.MaxInflightBatches || !r.queue.fillsBatch(r.cfg.MaxBatchSize, r.cfg.MaxBatchBytes, r.atInflightShare, r.othersInFlight)) {
			return
		}
		// Into a batch that goes out with none in flight, a key may take
		// what the others ask for (atInflightShare); one that goes out
		// beside batches in flight is held at a sixteenth, so a flood never
		// fills the pipeline by itself.
		r.demandShare = inflight == 0 || bug(BugDemandShareInFlight)
		if r.demandShare {
			r.countDemand()
		}
		batch := r.takeBatch()
		r.demandShare = false
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
// pipeline ordered here but not yet executed: a sixteenth of a batch by
// count or by bytes; while other keys wait, a key at its share waits too
// (see admission.take). A key that floods, or sends large requests, then
// takes the agreement's capacity only when nobody else needs it, and
// others' requests do not queue behind its batches. For a batch that goes
// out with none in flight (demandShare) the count share is, if more, what
// the least demanding other active key has queued and in flight: a key is a
// client, not a session, and four clients of 64 sessions each (the bench's)
// were each held at 16 requests, batches stayed at a quarter of their size
// while the queue held the rest, and the cluster ran at 0.7 of the rate it
// reached with the share out of the way. A flood beside a client of 32
// sessions then takes 32 into such a batch, beside a client of one session
// 16 as before, and never more into a batch that would join others in
// flight, so it cannot fill the pipeline.
func (r *Replica) atInflightShare(client string, taking inflightUse) bool {
	u := r.inflight[client]
	count := max(r.cfg.MaxBatchSize/16, 1)
	if r.demandShare {
		count = max(count, r.demandOfOthers(client))
	}
	return u.requests+taking.requests >= count || u.bytes+taking.bytes >= r.cfg.MaxBatchBytes/16
}

// keyDemand is a client key and how many requests it has queued and in
// flight at this primary.
type keyDemand struct {
	key string
	n   int
}

// countDemand finds the two least demanding active keys (queued or in
// flight here, or served recently: see othersInFlight, counted as asking
// again what executed of theirs in their last batch), for demandOfOthers.
// It costs what take already costs: a pass over the queued keys and the
// keys in flight.
func (r *Replica) countDemand() {
	low := [2]keyDemand{{n: -1}, {n: -1}}
	note := func(k string, n int) {
		switch {
		case low[0].n < 0 || n < low[0].n:
			low[1], low[0] = low[0], keyDemand{k, n}
		case low[1].n < 0 || n < low[1].n:
			low[1] = keyDemand{k, n}
		}
	}
	for _, k := range r.queue.ring {
		note(k, len(r.queue.byKey[k])+r.inflight[k].requests)
	}
	for k, u := range r.inflight {
		if _, queued := r.queue.byKey[k]; !queued {
			note(k, u.requests)
		}
	}
	for _, rk := range r.recent {
		_, queued := r.queue.byKey[rk.key]
		if _, flying := r.inflight[rk.key]; rk.key != "" && rk.seq+r.recentBatches() >= r.lastExec && !flying && !queued {
			note(rk.key, rk.n)
		}
	}
	r.lowDemand = low
}

// demandOfOthers is the least demand among the active keys other than
// client, as countDemand last found them; 0 when there is none.
func (r *Replica) demandOfOthers(client string) int {
	d := r.lowDemand[0]
	if d.key == client {
		d = r.lowDemand[1]
	}
	return max(d.n, 0)
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

// recentKey is a client key, the sequence number at which a request of it
// last executed at this primary, and how many of its requests executed
// there (what a closed-loop client is about to send again: its demand while
// it is between requests, see countDemand). Replica.recent holds the last
// two distinct keys: whichever key asks, the other slot names the latest
// other key served, so the check is O(1) however many keys there are.
type recentKey struct {
	key string
	seq uint64
	n   int
}

// executedAtPrimary takes a request executed at seq off its key's in-flight
// use and records the key as recently served.
func (r *Replica) executedAtPrimary(req *wire.Request, seq uint64) {
	k := string(req.GetClientKey())
	if r.recent[1].key == k {
		// It becomes the latest served, as a shift would make it, keeping
		// its count: a batch interleaves its keys' requests.
		r.recent[0], r.recent[1] = r.recent[1], r.recent[0]
	}
	switch rk := &r.recent[0]; {
	case rk.key == k && rk.seq == seq:
		rk.n++
	case rk.key == k:
		rk.seq, rk.n = seq, 1
	default:
		r.recent[1], r.recent[0] = r.recent[0], recentKey{key: k, seq: seq, n: 1}
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
