package pbft

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
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

	pending       *wire.Request // the newest request above lastTS
	pendingDigest crypto.Digest
	authentic     bool // held from the client's own connection, or verified
	verified      bool // its client signature was checked, not just its connection
	ordered       bool // in a pre-prepare this replica accepted or issued
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
	return r.cfg.Verifier.Verify(req.GetClientKey(), RequestTranscript(r.cfg.ClusterID, req), req.GetSignature())
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
	k := keyOf(req)
	cs := r.clients[k]
	if cs == nil {
		cs = &clientState{}
		r.clients[k] = cs
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
	}
	d := RequestDigest(r.cfg.ClusterID, req)
	if cs.pending != nil && cs.pending.GetTimestamp() == req.GetTimestamp() {
		if cs.pendingDigest != d {
			return r.drop(ErrConflict, "client sent two requests with timestamp %d", req.GetTimestamp())
		}
		return r.onRetransmission(from, cs, authentic)
	}
	if !authentic && !r.verifyClient(req) {
		return r.drop(ErrBadSignature, "forwarded request")
	}
	// The primary orders only requests every correct backup accepts, so it
	// checks the signature of one from its client's connection here, once:
	// a backup that learns the request from the pre-prepare verifies it, and
	// a forged signature would make a correct primary's batch stall.
	verified := !authentic
	if authentic && r.isPrimary() && r.active {
		if !r.verifyClient(req) {
			return r.drop(ErrBadSignature, "request from its client's connection")
		}
		verified = true
	}
	*cs = clientState{lastTS: cs.lastTS, lastResult: cs.lastResult, lastView: cs.lastView,
		pending: req, pendingDigest: d, authentic: true, verified: verified}
	if !r.isPrimary() && r.active {
		r.startTimer() // the primary must order it in time
	}
	if r.isPrimary() && r.active {
		if !r.enqueue(queued{key: k, req: req, size: proto.Size(req)}) {
			cs.pending = nil
			return r.drop(ErrQueueFull, "client's queue or the whole queue is full (%d requests)", r.queue.len())
		}
		r.maybePropose()
	}
	return nil
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
	if from.isClient() && !r.isPrimary() && !cs.ordered && r.active {
		r.send(int(r.q.primary(r.view)), &wire.Message{Content: &wire.Message_Request{Request: cs.pending}})
	}
	return nil
}

// replyFromCache answers a retransmitted, already executed request.
func (r *Replica) replyFromCache(k sessionKey, cs *clientState) {
	r.reply(k, cs.lastTS, cs.lastView, cs.lastResult, false)
}

func (r *Replica) reply(k sessionKey, ts, view uint64, result []byte, readOnly bool) {
	rep := &wire.Reply{
		View:      view,
		ClientKey: []byte(k.client),
		Session:   k.session,
		Timestamp: ts,
		Replica:   r.cfg.ID,
		Result:    result,
		ReadOnly:  readOnly,
	}
	if r.cfg.SignReplies {
		rep.Signature = r.cfg.Signer.Sign(ReplyTranscript(r.cfg.ClusterID, rep))
	}
	r.ready.Messages = append(r.ready.Messages, Envelope{
		To: ToClient, Client: k.client, Msg: &wire.Message{Content: &wire.Message_Reply{Reply: rep}},
	})
}

// onReadOnly answers a read-only request at once from the executed state;
// the client needs 2f+1 matching replies, else it retries it ordered.
func (r *Replica) onReadOnly(from From, req *wire.Request) error {
	if !from.isClient() {
		return r.drop(ErrMalformed, "read-only requests are not forwarded")
	}
	res, err := r.svc.Query(req.GetOperation())
	if err != nil {
		return r.drop(ErrMalformed, "read-only query: %v", err)
	}
	r.reply(keyOf(req), req.GetTimestamp(), r.view, res, true)
	return nil
}

// authenticRequest reports whether a request inside a pre-prepare is the
// client's: held identically from its own connection, or validly signed.
func (r *Replica) authenticRequest(req *wire.Request, d crypto.Digest) bool {
	if cs := r.clients[keyOf(req)]; cs != nil && cs.pending != nil && cs.authentic && cs.pendingDigest == d {
		return true
	}
	return r.verifyClient(req)
}
