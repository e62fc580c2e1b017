package pbft

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine"
)

// sessionKey names a client in PBFT's sense: one session of one client key.
type sessionKey struct {
	client  string
	session uint64
}

// clientState is the reply cache entry of one session plus the request it
// has outstanding, if any.
type clientState struct {
	lastTS     uint64 // last executed timestamp
	lastResult []byte
	lastView   uint64
	lastSeq    uint64 // the sequence number it executed at

	pending       *wire.Request // the newest request above lastTS
	pendingDigest crypto.Digest
	pendingSize   int    // its encoded bytes, counted in Replica.held
	heldAt        uint64 // tick+1 the replica got it from its client, 0 if not from the client
	authentic     bool   // held from the client's own connection, or verified
	verified      bool   // its client signature was checked, not just its connection
	ordered       bool   // in a pre-prepare this replica accepted or issued
	forwardedAt   uint64 // tick+1 of the last forward to the primary, 0 if none
	// timeoutForwardedAt is the tick+1 the view-change timer last forwarded
	// the pending request (see forwardHeld), 0 if it did not; resends'
	// forwards leave it alone, so that clients resending cannot keep a
	// primary that ignores them from being suspected.
	timeoutForwardedAt uint64
}

func keyOf(req *wire.Request) sessionKey {
	return sessionKey{client: string(req.GetClientKey()), session: req.GetSession()}
}

// checkRequestShape rejects requests no correct client sends.
func (r *Replica) checkRequestShape(req *wire.Request) error {
	switch {
	case len(req.GetClientKey()) != crypto.PublicKeySize:
		return r.drop(ErrMalformed, "client key is %d bytes", len(req.GetClientKey()))
	case req.GetSession() >= r.cfg.MaxSessions:
		return r.drop(ErrMalformed, "session %d is not below the limit %d", req.GetSession(), r.cfg.MaxSessions)
	case len(req.GetOperation()) > r.cfg.MaxOperationSize:
		return r.drop(ErrMalformed, "operation of %d bytes exceeds %d", len(req.GetOperation()), r.cfg.MaxOperationSize)
	case req.GetTimestamp() == 0:
		return r.drop(ErrMalformed, "timestamp 0")
	}
	return nil
}

func (r *Replica) verifyClient(req *wire.Request) bool {
	r.stats.ClientSignaturesChecked++
	it := clientItem(r.cfg.ClusterID, req)
	return r.cfg.Verifier.Verify(it.PublicKey, it.Message, it.Signature)
}

// clientItem is the client signature of a request, as a check takes it.
func clientItem(cluster string, req *wire.Request) crypto.Item {
	return crypto.Item{PublicKey: req.GetClientKey(), Message: RequestTranscript(cluster, req), Signature: req.GetSignature()}
}

// onRequest handles a request from its client's own connection or, at the
// primary, one forwarded by a backup.
func (r *Replica) onRequest(from From, req *wire.Request) error {
	if err := r.checkRequestShape(req); err != nil {
		return err
	}
	authentic := false
	if from.isClient() {
		// The connection authenticates the client: no signature check needed.
		if from.Client != string(req.GetClientKey()) {
			return r.drop(ErrSenderMismatch, "client connection sent another client's request")
		}
		authentic = true
	} else if !r.isPrimary() || !r.active {
		return r.drop(ErrNotPrimary, "forwarded request at a backup")
	}
	if req.GetReadOnly() {
		return r.onReadOnly(from, req)
	}
	// Client state is created only once the request is authenticated (and
	// admitted): an unauthenticated peer must not make a replica hold
	// anything for it.
	k := keyOf(req)
	cs := r.clients[k]
	seen := cs != nil
	if !seen {
		cs = &clientState{}
	}
	switch ts := req.GetTimestamp(); {
	case ts < cs.lastTS:
		return r.drop(ErrStaleTimestamp, "timestamp %d below executed %d", ts, cs.lastTS)
	case ts == cs.lastTS:
		if from.isClient() {
			r.replyFromCache(k, cs)
		}
		return nil
	case cs.pending != nil && ts < cs.pending.GetTimestamp():
		return r.drop(ErrStaleTimestamp, "timestamp %d below pending %d", ts, cs.pending.GetTimestamp())
	case r.belowFloor(k, cs, ts):
		return r.drop(ErrStaleTimestamp, "timestamp %d at or below the floor %d of its key's evicted sessions", ts, r.floorOf(k.client))
	}
	d := RequestDigest(r.cfg.ClusterID, req)
	if cs.pending != nil && cs.pending.GetTimestamp() == req.GetTimestamp() {
		if cs.pendingDigest != d {
			return r.drop(ErrConflict, "client sent two requests with timestamp %d", req.GetTimestamp())
		}
		return r.onRetransmission(from, cs, authentic)
	}
	// A key at its share of held bytes is refused before its signature is
	// checked: a flooding client must not buy itself the primary's
	// verification time.
	if !r.mayHold(k.client, heldCost(req)-cs.pendingSize) {
		return r.drop(ErrQueueFull, "client key holds %d bytes of requests, %d in all", r.held[k.client], r.heldTotal)
	}
	// A key caught forging on its own connection is faulty: for its
	// penalty, its requests are dropped unchecked, and so are a backup's
	// forwards of them (backups hold them on the connection's word and
	// forward resends; checking each cost the primary its time).
	if r.isPrimary() && r.active && r.forging(k.client) {
		return r.drop(ErrBadSignature, "request of a client key that recently sent a forged signature")
	}
	if !authentic && !r.verifyClient(req) {
		return r.drop(ErrBadSignature, "forwarded request")
	}
	// The primary orders only requests every correct backup accepts: a
	// backup that learns a request from the pre-prepare verifies it, and a
	// forged signature would make a correct primary's batch stall. It
	// checks the signature of one from its client's connection once, when
	// it takes the request into a batch, with the batch's others
	// (verifyTaken).
	verified := !authentic
	if from.isClient() && r.refuse(req) {
		return nil
	}
	size := proto.Size(req)
	if r.isPrimary() && r.active && !r.enqueue(queued{key: k, req: req, size: size}) {
		return r.drop(ErrQueueFull, "client's queue or the whole queue is full (%d requests)", r.queue.len())
	}
	if !seen {
		r.clients[k] = cs
	}
	r.setPending(k, cs, req, d)
	cs.authentic, cs.verified, cs.ordered = true, verified, false
	cs.heldAt = 0
	if from.isClient() {
		cs.heldAt = r.ticks + 1 // the primary's propose delay starts (perfMonitor)
	}
	if !r.isPrimary() && r.active {
		r.startTimer() // the primary must order it in time
		if len(r.wants) > 0 {
			r.resolveWanted() // it may complete a pre-prepare that named it
		}
	}
	if r.isPrimary() && r.active {
		r.maybePropose()
	}
	return nil
}

// setPending makes req the session's outstanding request, counting its bytes
// against the client's share of held requests.
func (r *Replica) setPending(k sessionKey, cs *clientState, req *wire.Request, d crypto.Digest) {
	r.clearPending(k, cs)
	cs.pending, cs.pendingDigest, cs.pendingSize = req, d, heldCost(req)
	if r.held == nil {
		r.held = make(map[string]int)
	}
	if r.heldDigests == nil {
		r.heldDigests = make(map[crypto.Digest]sessionKey)
	}
	r.heldDigests[d] = k
	r.held[k.client] += cs.pendingSize
	r.heldTotal += cs.pendingSize
}

// clearPending forgets the session's outstanding request.
func (r *Replica) clearPending(k sessionKey, cs *clientState) {
	if cs.pending != nil {
		if r.heldDigests[cs.pendingDigest] == k {
			delete(r.heldDigests, cs.pendingDigest)
		}
		r.held[k.client] -= cs.pendingSize
		r.heldTotal -= cs.pendingSize
		if r.held[k.client] <= 0 {
			delete(r.held, k.client)
		}
	}
	cs.pending, cs.pendingSize, cs.ordered, cs.authentic, cs.verified = nil, 0, false, false, false
	cs.timeoutForwardedAt = 0
}

// mayHold reports whether a client key may hold delta more bytes of
// requests (outstanding, not yet executed): each key up to its share, and
// all keys together up to MaxHeldBytes; beyond that only keys holding less
// than an even share of it, so a key that floods cannot shut out one that
// does not, and never beyond twice MaxHeldBytes.
func (r *Replica) mayHold(client string, delta int) bool {
	mine := r.held[client] + delta
	switch {
	case delta <= 0:
		return true
	case mine > r.cfg.MaxHeldBytesPerClient || r.heldTotal+delta > 2*r.cfg.MaxHeldBytes:
		return false
	case r.heldTotal+delta <= r.cfg.MaxHeldBytes:
		return true
	}
	return mine <= r.cfg.MaxHeldBytes/max(len(r.held), 1)
}

// heldCost is what an outstanding request counts against its key's share:
// its bytes, and at least minHeldCost, what the session's state and its
// bookkeeping cost beside it, so that many small requests are bounded too
// (16 MiB per key is then at most 4,096 sessions' worth).
func heldCost(req *wire.Request) int { return max(proto.Size(req), minHeldCost) }

const minHeldCost = 4 << 10

// recountHeld recomputes what each client key holds, after the sessions
// were replaced (a state transfer).
func (r *Replica) recountHeld() {
	r.held, r.heldTotal = make(map[string]int), 0
	r.heldDigests = make(map[crypto.Digest]sessionKey)
	for k, cs := range r.clients {
		if cs.pending != nil {
			r.heldDigests[cs.pendingDigest] = k
			cs.pendingSize = heldCost(cs.pending)
			r.held[k.client] += cs.pendingSize
			r.heldTotal += cs.pendingSize
		}
	}
}

// enqueue adds q to the primary's queue, first clearing its key's FIFO of
// requests that are no longer to be ordered when it is full.
func (r *Replica) enqueue(q queued) bool {
	if r.queue.push(q, r.cfg.MaxQueuedPerClient, r.cfg.MaxQueuedRequests) {
		return true
	}
	r.queue.compact(q.key.client, func(q queued) bool { return !r.stillToOrder(q) })
	return r.queue.push(q, r.cfg.MaxQueuedPerClient, r.cfg.MaxQueuedRequests)
}

// stillToOrder reports whether a queued request is still its session's
// outstanding, unordered one.
func (r *Replica) stillToOrder(q queued) bool {
	cs := r.clients[q.key]
	return cs != nil && cs.pending == q.req && !cs.ordered
}

// onRetransmission handles a request the replica already holds. A backup
// forwards it to the primary when the primary has not ordered it: the
// client's retransmission says the primary may never have received it.
func (r *Replica) onRetransmission(from From, cs *clientState, authentic bool) error {
	if authentic {
		cs.authentic = true
	}
	r.stats.Duplicates++
	if !r.isPrimary() && r.active {
		r.startTimer() // it may have stopped while this request waited
	}
	// At most once per Status period per session: a client resending
	// faster must not make this replica flood the primary with forwards.
	if from.isClient() && !r.isPrimary() && !cs.ordered && r.active && (cs.forwardedAt == 0 || r.ticks+1-cs.forwardedAt >= r.cfg.StatusTicks) {
		cs.forwardedAt = r.ticks + 1
		r.send(int(r.q.primary(r.view)), &wire.Message{Content: &wire.Message_Request{Request: cs.pending}})
	}
	return nil
}

// replyFromCache answers a retransmitted, already executed request.
func (r *Replica) replyFromCache(k sessionKey, cs *clientState) {
	r.reply(k, cs.lastTS, cs.lastView, cs.lastResult, false)
}

func (r *Replica) reply(k sessionKey, ts, view uint64, result []byte, readOnly bool) {
	r.sendReply(&wire.Reply{
		View:      view,
		ClientKey: []byte(k.client),
		Session:   k.session,
		Timestamp: ts,
		Replica:   r.cfg.ID,
		Result:    result,
		ReadOnly:  readOnly,
	})
}

// replyExecuted answers a request just executed: with the result from the
// one replica fullReplier names for it, with its digest from the others
// (results no longer than a digest, and replies signed for an audit, go in
// full), as PBFT's designated replier does. Replies are much of the bytes a
// request costs the cluster: at 4 KB results the second full reply of
// f+1 was one payload in six (request to four replicas, two results), and
// the ratio to an unreplicated server is bounded by the payloads each
// moves. If the full reply is lost, or the named replica is faulty and
// sends a wrong result or none, the client holds a quorum of digests
// without the result; it then resends at once, and every replica answers a
// resent request from its cache, in full, so a faulty replier costs the
// client a round trip and a couple of ticks, never the result.
func (r *Replica) replyExecuted(k sessionKey, ts uint64, result []byte) {
	if r.cfg.SignReplies || len(result) <= crypto.DigestSize || r.fullReplier(k.session, ts) {
		r.reply(k, ts, r.view, result, false)
		return
	}
	d := crypto.Hash(result)
	r.sendReply(&wire.Reply{
		View: r.view, ClientKey: []byte(k.client), Session: k.session, Timestamp: ts,
		Replica: r.cfg.ID, ResultDigest: d[:],
	})
}

// fullReplier reports whether this replica is the one that sends the result
// of (session, ts) in full (see FullReplier).
func (r *Replica) fullReplier(session, ts uint64) bool {
	return FullReplier(session, ts, r.q.n) == r.cfg.ID
}

// FullReplier is the replica of n that sends the result of the request
// (session, timestamp) in full on execution; the others send its digest.
// It moves with the request, so the work spreads over all replicas, and a
// client that finds this one's reply contradicting a quorum of digests
// resends at once instead of waiting for it.
func FullReplier(session, timestamp uint64, n int) uint32 {
	return uint32((session + timestamp) % uint64(n))
}

// admissionError is why the service's admission check refuses op of
// client, or nil (always nil for a service without one).
func (r *Replica) admissionError(client, op []byte) error {
	if a, ok := r.svc.(statemachine.Admission); ok {
		return a.Admit(client, op)
	}
	return nil
}

// refuse answers a request the service's admission check refuses with the
// error, and reports whether it did: every correct replica refuses it alike
// (the check is deterministic), so the client gets f+1 matching refusals and
// nothing is ordered.
func (r *Replica) refuse(req *wire.Request) bool {
	err := r.admissionError(req.GetClientKey(), req.GetOperation())
	if err == nil {
		return false
	}
	r.stats.Refused++
	r.sendReply(&wire.Reply{
		View: r.view, ClientKey: req.GetClientKey(), Session: req.GetSession(), Timestamp: req.GetTimestamp(),
		Replica: r.cfg.ID, Result: []byte(err.Error()), ReadOnly: req.GetReadOnly(), Rejected: true,
	})
	return true
}

func (r *Replica) sendReply(rep *wire.Reply) {
	if r.cfg.SignReplies {
		rep.Signature = r.cfg.Signer.Sign(ReplyTranscript(r.cfg.ClusterID, rep))
	}
	r.ready.Messages = append(r.ready.Messages, Envelope{
		To: ToClient, Client: string(rep.GetClientKey()), Msg: &wire.Message{Content: &wire.Message_Reply{Reply: rep}},
	})
}

// onReadOnly answers a read-only request at once from the executed state
// (never a tentative one); the client needs 2f+1 matching replies, else it
// orders the read. The client's argument for linearizability (docs/design.md,
// section 6) needs every correct replica that answered a write to answer
// later reads from a state that includes it, across a power cut too: a
// restarted replica stays silent until it executed as far as it had
// committed (readFence).
func (r *Replica) onReadOnly(from From, req *wire.Request) error {
	if !from.isClient() {
		return r.drop(ErrMalformed, "read-only requests are not forwarded")
	}
	if r.lastExec < r.readFence && !bug(BugReadBelowFence) {
		return r.drop(ErrReadBehind, "executed %d of the %d it had committed", r.lastExec, r.readFence)
	}
	if r.refuse(req) {
		return nil
	}
	res, err := r.svc.Query(req.GetClientKey(), req.GetOperation())
	if err != nil {
		return r.drop(ErrMalformed, "read-only query: %v", err)
	}
	r.reply(keyOf(req), req.GetTimestamp(), r.view, res, true)
	return nil
}

// A client key whose request, on its own authenticated connection, carries
// a signature that does not verify has proven itself faulty (a correct
// client signs what it sends). For a while the primary then drops its
// requests without checking them: repeating or varying forged requests
// costs the replica one verification per penalty, not one per request. The
// penalty doubles with each offence, up to maxPenalty Status periods.
const maxPenalty = 64

type penalty struct {
	until   uint64 // tick
	offence uint
}

func (r *Replica) forging(client string) bool {
	p, ok := r.penalties[client]
	return ok && r.ticks < p.until
}

func (r *Replica) penalise(client string) {
	if r.penalties == nil {
		r.penalties = make(map[string]penalty)
	}
	if len(r.penalties) >= 4096 { // forget the expired ones
		for k, p := range r.penalties {
			if r.ticks >= p.until {
				delete(r.penalties, k)
			}
		}
	}
	p := r.penalties[client]
	periods := min(uint64(1)<<min(p.offence, 6), maxPenalty)
	r.penalties[client] = penalty{until: r.ticks + periods*r.cfg.StatusTicks, offence: p.offence + 1}
	r.stats.Penalised++
}
