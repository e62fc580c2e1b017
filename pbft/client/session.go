// Package client is Bulwark's pure client core: one session of a client key,
// with at most one outstanding request. Like the replica core it has no
// goroutines, clock or I/O; the real client and the simulator drive it.
package client

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Config describes one session.
type Config struct {
	ClusterID string
	// Replicas is n = 3f+1, the number of replicas.
	Replicas int
	// Unreplicated allows Replicas = 1: a single server, f = 0, one reply
	// suffices. It is the yardstick the benchmark harness measures
	// replication against; it must be asked for, so a cluster file with one
	// replica is never mistaken for a fault-tolerant cluster.
	Unreplicated bool
	// Signer holds the client key; many sessions may share it.
	Signer crypto.Signer
	// Session is this session's id, below the cluster's session limit.
	Session uint64
	// FirstTimestamp seeds the timestamp sequence. A real client passes the
	// wall clock in nanoseconds so a restarted client stays above every
	// timestamp it used before; the simulator passes 1.
	FirstTimestamp uint64
	// RetransmitTicks is how many ticks pass before an unanswered request is
	// sent again (read-only requests are then retried as ordered ones).
	RetransmitTicks uint64
	// FastReads: the cluster answers read-only requests from executed
	// state, without ordering them. A read then needs 2f+1 matching replies
	// and so does every write, so that any read's quorum meets any earlier
	// write's in f+1 replicas, one of them correct (TOCS 2002 §5.1.3; the
	// argument is in docs/design.md). Every client of the cluster must agree
	// on it, which is why it comes from the cluster file. Without it every
	// operation is ordered and completes on f+1 matching replies.
	FastReads bool
}

// ErrBusy is returned by Submit while a request is outstanding.
var ErrBusy = errors.New("client session: a request is already outstanding")

// Result is an operation's accepted outcome.
type Result struct {
	Timestamp uint64
	Result    []byte
	// View is the view the cluster reported, which names the primary.
	View uint64
	// Rejected: the service's admission check refused the operation before
	// it was ordered, and Result holds the error; nothing was executed.
	Rejected bool
}

// Session is a client session. Not safe for concurrent use.
type Session struct {
	cfg     Config
	f       int
	view    uint64
	nextTS  uint64
	req     *wire.Request // outstanding, or nil
	replies []*wire.Reply // by replica, for req's timestamp
	// outcomes name each reply's result: its digest, sent or computed.
	outcomes []crypto.Digest
	waited   uint64 // ticks since req was (re)sent
	resends  uint64
	tries    uint // retransmissions of the outstanding request
	// resultDue is the tick (of waited) by which the result itself must
	// have come once a quorum of matching digests has (0: none has).
	resultDue uint64
	// resentForResult: the request went out again because the named
	// replica's reply contradicted the digests (once per request).
	resentForResult bool
	accepted        uint64
	// resend is the ordered request a read that cannot complete on the
	// fast path became, until Resend hands it out.
	resend *wire.Request
}

// resultWaitTicks is how long a session holding a quorum of matching digests
// waits for the result itself before it resends the request, which every
// replica then answers in full: one replica sends it on execution, and when
// that one is faulty or its reply lost, the client should not wait for a
// whole retransmission timeout.
const resultWaitTicks = 2

// maxBackoff caps the doubling of the retransmission timeout: 2^2 = 4
// times RetransmitTicks (a lost request then still goes out again every
// couple of seconds).
const maxBackoff = 2

// NewSession checks cfg and makes a session with no outstanding request.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Replicas < 1 || (cfg.Replicas-1)%3 != 0 || cfg.Replicas == 1 && !cfg.Unreplicated {
		return nil, fmt.Errorf("client session: replicas: %d is not 3f+1 for some f >= 1", cfg.Replicas)
	}
	if cfg.Signer == nil {
		return nil, fmt.Errorf("client session: signer: missing")
	}
	if cfg.RetransmitTicks == 0 {
		cfg.RetransmitTicks = 50
	}
	return &Session{cfg: cfg, f: (cfg.Replicas - 1) / 3, nextTS: max(cfg.FirstTimestamp, 1)}, nil
}

// Submit starts op and returns the signed request to send to every replica.
// A read (readOnly) goes without ordering when the cluster has FastReads,
// and is ordered like any operation otherwise.
func (s *Session) Submit(op []byte, readOnly bool) (*wire.Request, error) {
	if s.req != nil {
		return nil, ErrBusy
	}
	s.start(op, readOnly && s.cfg.FastReads)
	return s.req, nil
}

// need is how many matching replies accept a result for the outstanding
// request: a refusal by the service's admission check is deterministic, so
// f+1 (one of them correct) suffice; a result read from executed state
// takes 2f+1, and so does a write when reads may take the fast path.
func (s *Session) need(rejected bool) int {
	if rejected || !s.cfg.FastReads {
		return s.f + 1
	}
	return 2*s.f + 1
}

// AdvanceTo raises the next timestamp to at least ts (a real client passes
// its clock in nanoseconds before each Submit): a session that was idle long
// enough for the replicas to evict it comes back above its key's floor
// (see the replica core's client table), and a restarted client above
// every timestamp it used before. Timestamps never go down.
func (s *Session) AdvanceTo(ts uint64) { s.nextTS = max(s.nextTS, ts) }

func (s *Session) start(op []byte, readOnly bool) {
	s.req = &wire.Request{
		ClientKey: s.cfg.Signer.PublicKey(),
		Session:   s.cfg.Session,
		Timestamp: s.nextTS,
		Operation: op,
		ReadOnly:  readOnly,
	}
	s.nextTS++
	pbft.SignRequest(s.cfg.Signer, s.cfg.ClusterID, s.req)
	s.replies = make([]*wire.Reply, s.cfg.Replicas)
	s.outcomes = make([]crypto.Digest, s.cfg.Replicas)
	s.waited, s.tries, s.resultDue, s.resentForResult = 0, 0, 0, false
}

// Step takes a reply that arrived from replica id over its authenticated
// stream. It returns the result once enough distinct replicas sent the same
// result for the outstanding timestamp (see need). A read whose replies can
// no longer agree (they differ, because the replicas are at different
// points of the log or one lies) becomes an ordered request at once, which
// Resend hands out.
func (s *Session) Step(from uint32, rep *wire.Reply) (Result, bool) {
	if s.req == nil || int(from) >= s.cfg.Replicas || rep.GetReplica() != from ||
		rep.GetTimestamp() != s.req.GetTimestamp() || rep.GetSession() != s.req.GetSession() ||
		!bytes.Equal(rep.GetClientKey(), s.req.GetClientKey()) || rep.GetReadOnly() != s.req.GetReadOnly() {
		return Result{}, false
	}
	outcome, ok := outcomeOf(rep)
	if !ok {
		return Result{}, false
	}
	if prev := s.replies[from]; prev != nil {
		// Only a digest's result may follow it (the replica answering the
		// resent request from its cache, in full).
		if len(prev.GetResultDigest()) == 0 || len(rep.GetResultDigest()) != 0 || outcome != s.outcomes[from] || prev.GetRejected() != rep.GetRejected() {
			return Result{}, false
		}
	}
	s.replies[from], s.outcomes[from] = rep, outcome
	need := s.need(rep.GetRejected())
	n, view := 0, uint64(0)
	var full *wire.Reply
	for i, r := range s.replies {
		if r != nil && s.outcomes[i] == outcome && r.GetRejected() == rep.GetRejected() {
			if n == 0 || r.GetView() < view {
				view = r.GetView() // the lowest view any matching replica reported
			}
			n++
			if len(r.GetResultDigest()) == 0 {
				full = r
			}
		}
	}
	if n >= need && full == nil {
		if s.resultDue == 0 {
			s.resultDue = s.waited + resultWaitTicks
		}
		// The replica named to send the result answered, but not with a
		// result matching the quorum: it is faulty, and nothing is worth
		// waiting for (see Tick).
		if named := pbft.FullReplier(s.req.GetSession(), s.req.GetTimestamp(), s.cfg.Replicas); s.replies[named] != nil && !s.resentForResult {
			s.resentForResult = true
			s.resultDue = 0
			s.resends++
			s.resend = s.req
		}
	}
	if n < need || full == nil {
		// Short of a quorum, or of a matching reply with the result itself:
		// one replica sends it, and a resend is answered in full (see Tick).
		if s.req.GetReadOnly() && !s.fastReadPossible() {
			s.fallBack()
		}
		return Result{}, false
	}
	// At least one of the matching replicas is correct, so the cluster has
	// reached at least the lowest view among them.
	s.view = max(s.view, view)
	res := Result{Timestamp: s.req.GetTimestamp(), Result: full.GetResult(), View: s.view, Rejected: rep.GetRejected()}
	s.req, s.replies, s.outcomes = nil, nil, nil
	s.accepted++
	return res, true
}

// outcomeOf names rep's result by its digest: the one it carries instead
// of the result, or the result's. A reply carrying both, or a digest of the
// wrong size, is malformed.
func outcomeOf(rep *wire.Reply) (crypto.Digest, bool) {
	d := rep.GetResultDigest()
	switch {
	case len(d) == 0:
		return crypto.Hash(rep.GetResult()), true
	case len(d) != crypto.DigestSize || len(rep.GetResult()) > 0:
		return crypto.Digest{}, false
	}
	return crypto.Digest(d), true
}

// Tick advances the session's clock. It returns a request to send to every
// replica when the outstanding one went unanswered for RetransmitTicks: the
// same request, or for a read-only one, the operation again as an ordered
// request with a fresh timestamp.
func (s *Session) Tick() *wire.Request {
	if s.req == nil {
		return nil
	}
	s.waited++
	if s.resultDue != 0 && s.waited >= s.resultDue {
		// The result is all that is missing: every replica answers the
		// resent request in full, from its cache.
		s.waited, s.resultDue = 0, 0
		s.resends++
		return s.req
	}
	// The wait doubles with each retransmission of one request, up to
	// 2^maxBackoff times the first: a cluster that is slow because it is
	// loaded (or attacked) is not made slower by every session resending.
	if s.waited < s.cfg.RetransmitTicks<<min(s.tries, maxBackoff) {
		return nil
	}
	s.waited = 0
	s.tries++
	s.resends++
	if s.req.GetReadOnly() {
		s.fallBack()
		s.resend = nil // returned here instead
	}
	return s.req
}

// fallBack turns the outstanding read into an ordered request with a fresh
// timestamp, to be sent to every replica (Resend). Ordering is what any
// write goes through: a primary that does not order it is suspected by the
// backups that received it, as for a write, so a faulty primary cannot
// block the read for longer than it could block a write.
func (s *Session) fallBack() {
	op := s.req.GetOperation()
	s.req = nil
	s.start(op, false)
	s.resend = s.req
}

// fastReadPossible reports whether the outstanding read can still gather
// the matching replies it needs from the replicas that have not answered.
func (s *Session) fastReadPossible() bool {
	replied, matched, need := s.Progress()
	return matched+s.cfg.Replicas-replied >= need
}

// Resend returns, once, the ordered request a read fell back to in Step;
// the caller sends it to every replica. Nil when there is none.
func (s *Session) Resend() *wire.Request {
	req := s.resend
	s.resend = nil
	return req
}

// Outstanding is the request awaiting replies, or nil.
func (s *Session) Outstanding() *wire.Request { return s.req }

// View is the latest view the cluster reported; its primary is View mod n.
func (s *Session) View() uint64 { return s.view }

// Retransmissions counts requests sent again after a timeout.
func (s *Session) Retransmissions() uint64 { return s.resends }

// Progress reports, for the outstanding request, how many replicas replied
// and the largest number of them that agree, against the number needed:
// what a caller that gives up can say about why.
func (s *Session) Progress() (replied, matched, need int) {
	need = s.need(false)
	if s.req == nil {
		return 0, 0, need
	}
	for i, r := range s.replies {
		if r == nil {
			continue
		}
		replied++
		n := 0
		for j, o := range s.replies[i:] {
			if o != nil && s.outcomes[i+j] == s.outcomes[i] && o.GetRejected() == r.GetRejected() {
				n++
			}
		}
		matched = max(matched, n)
	}
	return replied, matched, need
}
