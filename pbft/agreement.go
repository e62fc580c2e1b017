package pbft

import (
	"bytes"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// slot is the log entry of one sequence number in the current view.
type slot struct {
	prePrepare *wire.PrePrepare
	digest     crypto.Digest // of prePrepare, once accepted
	// prepares and commits hold the first one received from each replica,
	// whatever its digest; only those matching digest count.
	prepares []*wire.Prepare
	commits  []*wire.Commit

	prepared  bool
	committed bool
	// needBatch: the pre-prepare came as a digest (a NEW-VIEW re-issued
	// it, or it was restored so) and its requests are being fetched;
	// execution waits for them.
	needBatch bool
}

// slot returns the log entry for seq, creating it. Callers check the window
// first, so the log never holds more than L entries.
func (r *Replica) slot(seq uint64) *slot {
	s := r.slots[seq]
	if s == nil {
		s = &slot{prepares: make([]*wire.Prepare, r.q.n), commits: make([]*wire.Commit, r.q.n)}
		r.slots[seq] = s
	}
	return s
}

// checkAgreement applies the checks common to pre-prepares, prepares and
// commits: straight from the signer, current view, inside the window, a
// well-formed digest.
func (r *Replica) checkAgreement(from From, signer uint32, view, seq uint64, digest []byte) (crypto.Digest, error) {
	if err := r.checkSender(from, signer); err != nil {
		return crypto.Digest{}, err
	}
	if view != r.view {
		return crypto.Digest{}, r.drop(ErrWrongView, "view %d, current %d", view, r.view)
	}
	if !r.active {
		return crypto.Digest{}, r.drop(ErrWrongView, "view %d has not started here: no NEW-VIEW yet", view)
	}
	if !r.inWindow(seq) && !(bug(BugAcceptOutsideWindow) && seq > r.low) {
		return crypto.Digest{}, r.drop(ErrOutsideWindow, "sequence %d not in (%d, %d]", seq, r.low, r.low+r.cfg.WindowSize)
	}
	d, err := digestOf(digest)
	if err != nil {
		r.stats.Dropped[ErrMalformed.Error()]++
	}
	return d, err
}

func (r *Replica) onPrePrepare(from From, pp *wire.PrePrepare) error {
	d, err := r.checkAgreement(from, pp.GetReplica(), pp.GetView(), pp.GetSequence(), pp.GetDigest())
	if err != nil {
		return err
	}
	if pp.GetReplica() != r.q.primary(pp.GetView()) {
		return r.drop(ErrNotPrimary, "pre-prepare from replica %d, primary is %d", pp.GetReplica(), r.q.primary(pp.GetView()))
	}
	if r.isPrimary() {
		return r.drop(ErrNotPrimary, "the primary accepts no pre-prepares")
	}
	if err := r.checkSlotFree(pp, d); err != nil || r.slots[pp.GetSequence()] != nil && r.slots[pp.GetSequence()].prePrepare != nil {
		return err
	}
	if err := r.verifyReplica(pp.GetReplica(), prePrepareTranscript(r.cfg.ClusterID, pp, d), pp.GetSignature()); err != nil {
		return err
	}
	if len(pp.GetRequestDigests()) > 0 {
		// Its requests named by digest: filled in from those held, or, if
		// some have not arrived from their clients by the next tick,
		// fetched (resolveWanted, fetchBatches).
		full, err := r.resolveRequests(pp, d)
		if err != nil {
			return err
		}
		if full == nil {
			r.wantBatchLater(pp.GetSequence(), d, []uint32{pp.GetReplica()}, pp)
			return nil
		}
		pp = full
	}
	if !r.holdsBatch(pp, d) {
		// Its digest only (resent after the primary released the batch):
		// fetch the requests, then check and accept it.
		r.wantBatch(pp.GetSequence(), d, []uint32{pp.GetReplica()}, pp)
		return nil
	}
	return r.checkNormalPrePrepare(pp, d)
}

// checkSlotFree refuses a pre-prepare for a slot that holds another digest
// (keeping the pair as evidence) and counts a repeat of the one it holds.
func (r *Replica) checkSlotFree(pp *wire.PrePrepare, d crypto.Digest) error {
	s := r.slots[pp.GetSequence()]
	if s == nil || s.prePrepare == nil {
		return nil
	}
	if s.digest == d {
		r.stats.Duplicates++
		return nil
	}
	r.noteEquivocation(pp.GetReplica(), &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: s.prePrepare}},
		&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}})
	return r.drop(ErrConflict, "another digest already accepted at sequence %d", pp.GetSequence())
}

// checkNormalPrePrepare checks the batch of a validly signed pre-prepare of
// the current view (the requests may have been fetched since it arrived)
// and accepts it.
func (r *Replica) checkNormalPrePrepare(pp *wire.PrePrepare, d crypto.Digest) error {
	if pp.GetView() != r.view || !r.active || !r.inWindow(pp.GetSequence()) {
		return r.drop(ErrWrongView, "pre-prepare for view %d at %d, no longer acceptable", pp.GetView(), pp.GetSequence())
	}
	if err := r.checkSlotFree(pp, d); err != nil || r.slots[pp.GetSequence()] != nil && r.slots[pp.GetSequence()].prePrepare != nil {
		return err
	}
	if len(pp.GetRequests()) > r.cfg.MaxBatchSize {
		return r.drop(ErrMalformed, "batch of %d requests exceeds %d", len(pp.GetRequests()), r.cfg.MaxBatchSize)
	}
	if n := batchBytes(pp.GetRequests()); n > r.cfg.MaxBatchBytes {
		return r.drop(ErrMalformed, "batch of %d bytes exceeds %d", n, r.cfg.MaxBatchBytes)
	}
	digests, err := r.checkBatch(pp.GetRequests())
	if err != nil {
		return err
	}
	if BatchDigest(r.cfg.ClusterID, digests) != d && !bug(BugSkipDigestCheck) {
		return r.drop(ErrDigestMismatch, "at sequence %d", pp.GetSequence())
	}
	r.acceptPrePrepare(pp, r.slot(pp.GetSequence()), d, digests)
	return nil
}

// checkBatch checks every request of a pre-prepare and returns their digests.
func (r *Replica) checkBatch(reqs []*wire.Request) ([]crypto.Digest, error) {
	digests := make([]crypto.Digest, len(reqs))
	for i, req := range reqs {
		if err := r.checkRequestShape(req); err != nil {
			return nil, err
		}
		if req.GetReadOnly() {
			return nil, r.drop(ErrMalformed, "read-only request in a batch")
		}
		// The request is the client's: held identically from its own
		// connection, or validly signed.
		var held *clientState
		digests[i], held = r.requestDigest(req)
		if (held == nil || !held.authentic) && !r.verifyClient(req) {
			return nil, r.drop(ErrUnauthenticRequest, "request %d of the batch", i)
		}
		if err := r.admissionError(req.GetClientKey(), req.GetOperation()); err != nil {
			return nil, r.drop(ErrRefused, "request %d of the batch: %v", i, err)
		}
	}
	return digests, nil
}

// acceptPrePrepare logs the pre-prepare and multicasts this backup's prepare.
func (r *Replica) acceptPrePrepare(pp *wire.PrePrepare, s *slot, d crypto.Digest, digests []crypto.Digest) {
	s.prePrepare, s.digest = pp, d
	if !r.isPrimary() {
		r.observeProposals(pp.GetRequests())
	}
	for i, req := range pp.GetRequests() {
		r.markOrdered(req, digests[i])
	}
	p := &wire.Prepare{View: pp.GetView(), Sequence: pp.GetSequence(), Digest: d[:], Replica: r.cfg.ID}
	p.Signature = r.cfg.Signer.Sign(prepareTranscript(r.cfg.ClusterID, p, d))
	s.prepares[r.cfg.ID] = p
	r.persist(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}})
	pm := &wire.Message{Content: &wire.Message_Prepare{Prepare: p}}
	r.persist(pm)
	r.send(Broadcast, pm)
	r.maybePrepared(pp.GetSequence(), s)
}

// markOrdered records that req is in an accepted pre-prepare, so a client's
// retransmission is not forwarded and its authenticity is remembered.
func (r *Replica) markOrdered(req *wire.Request, d crypto.Digest) {
	k := keyOf(req)
	cs := r.clients[k]
	if cs == nil {
		cs = &clientState{}
		r.clients[k] = cs
	}
	if req.GetTimestamp() <= cs.lastTS {
		return
	}
	if cs.pending == nil || cs.pendingDigest != d {
		if cs.pending != nil && cs.pending.GetTimestamp() > req.GetTimestamp() {
			return
		}
		r.setPending(k, cs, req, d)
	}
	cs.authentic, cs.ordered = true, true
}

func (r *Replica) onPrepare(from From, p *wire.Prepare) error {
	d, err := r.checkAgreement(from, p.GetReplica(), p.GetView(), p.GetSequence(), p.GetDigest())
	if err != nil {
		return err
	}
	if p.GetReplica() == r.q.primary(p.GetView()) {
		return r.drop(ErrNotPrimary, "prepare from the primary %d", p.GetReplica())
	}
	if s := r.slots[p.GetSequence()]; s != nil && s.prepares[p.GetReplica()] != nil {
		if prev := s.prepares[p.GetReplica()]; string(prev.GetDigest()) != string(p.GetDigest()) {
			r.noteEquivocation(p.GetReplica(), &wire.Message{Content: &wire.Message_Prepare{Prepare: prev}},
				&wire.Message{Content: &wire.Message_Prepare{Prepare: p}})
		}
		r.stats.Duplicates++
		return nil
	}
	if r.lateVote(p.GetSequence(), false) {
		return nil
	}
	if err := r.verifyReplica(p.GetReplica(), prepareTranscript(r.cfg.ClusterID, p, d), p.GetSignature()); err != nil {
		return err
	}
	s := r.slot(p.GetSequence()) // only once the message is valid: a drop changes nothing
	s.prepares[p.GetReplica()] = p
	r.maybePrepared(p.GetSequence(), s)
	return nil
}

func (r *Replica) onCommit(from From, c *wire.Commit) error {
	d, err := r.checkAgreement(from, c.GetReplica(), c.GetView(), c.GetSequence(), c.GetDigest())
	if err != nil {
		return err
	}
	if s := r.slots[c.GetSequence()]; s != nil && s.commits[c.GetReplica()] != nil {
		if prev := s.commits[c.GetReplica()]; string(prev.GetDigest()) != string(c.GetDigest()) {
			r.noteEquivocation(c.GetReplica(), &wire.Message{Content: &wire.Message_Commit{Commit: prev}},
				&wire.Message{Content: &wire.Message_Commit{Commit: c}})
		}
		r.stats.Duplicates++
		return nil
	}
	if r.lateVote(c.GetSequence(), true) {
		return nil
	}
	if err := r.verifyReplica(c.GetReplica(), commitTranscript(r.cfg.ClusterID, c, d), c.GetSignature()); err != nil {
		return err
	}
	s := r.slot(c.GetSequence())
	s.commits[c.GetReplica()] = c
	r.maybeCommitted(s)
	return nil
}

// matching counts the messages whose digest is d, leaving out index skip.
// onPrepare already refuses prepares from the primary; skipping the
// primary's entry here is a second guard, not the rule itself.
// Missing entries are nil pointers, whose generated getters return nil.
func matching[M interface{ GetDigest() []byte }](msgs []M, d crypto.Digest, skip int) int {
	n := 0
	for i, m := range msgs {
		if i != skip && string(m.GetDigest()) == string(d[:]) {
			n++
		}
	}
	return n
}

// lateVote reports, and counts, a prepare (commit false) or commit of the
// current view for a slot that already has its quorum: nothing needs it,
// since certificates hold the 2f prepares that made the slot prepared and
// execution needed 2f+1 commits, so it is dropped before its signature is
// checked. The last replica's votes of every batch are such; checking them
// cost each replica two verifications a batch.
func (r *Replica) lateVote(seq uint64, commit bool) bool {
	if !quorumReached(r.slots[seq], commit) {
		return false
	}
	r.stats.LateVotes++
	return true
}

// quorumReached reports whether s is prepared (commit false) or committed.
func quorumReached(s *slot, commit bool) bool {
	return s != nil && s.prepared && (!commit || s.committed)
}

// LateVote reports whether stepping m would drop it as a late vote (see
// lateVote) without checking its signature: a driver that verifies
// signatures ahead of the core skips it too. It holds only for a prepare
// or commit of the current view from a replica that has none in its slot
// yet (a duplicate is compared with the one held, as evidence).
func (r *Replica) LateVote(m *wire.Message) bool {
	var view, seq uint64
	var signer uint32
	commit := false
	switch {
	case m.GetPrepare() != nil:
		p := m.GetPrepare()
		view, seq, signer = p.GetView(), p.GetSequence(), p.GetReplica()
	case m.GetCommit() != nil:
		c := m.GetCommit()
		view, seq, signer, commit = c.GetView(), c.GetSequence(), c.GetReplica(), true
	default:
		return false
	}
	s := r.slots[seq]
	if !r.active || view != r.view || int(signer) >= r.q.n || !quorumReached(s, commit) {
		return false
	}
	if commit {
		return s.commits[signer] == nil
	}
	return s.prepares[signer] == nil
}

// maybePrepared: the pre-prepare plus 2f matching prepares from distinct
// backups (never the primary's) make the batch prepared; then commit.
func (r *Replica) maybePrepared(seq uint64, s *slot) {
	if s.prepared || s.prePrepare == nil {
		return
	}
	if matching(s.prepares, s.digest, int(r.q.primary(r.view))) < r.q.prepared() {
		return
	}
	s.prepared = true
	pc := r.preparedCertificate(s)
	r.preparedCerts[seq] = pc
	r.ready.Prepared = append(r.ready.Prepared, pc)
	c := &wire.Commit{View: r.view, Sequence: seq, Digest: s.digest[:], Replica: r.cfg.ID}
	c.Signature = r.cfg.Signer.Sign(commitTranscript(r.cfg.ClusterID, c, s.digest))
	s.commits[r.cfg.ID] = c
	cm := &wire.Message{Content: &wire.Message_Commit{Commit: c}}
	r.persist(cm)
	r.send(Broadcast, cm)
	r.maybeCommitted(s)
}

// maybeCommitted: prepared plus 2f+1 matching commits (its own included)
// make the batch committed-local; execution follows in sequence order.
func (r *Replica) maybeCommitted(s *slot) {
	if s.committed || !s.prepared {
		return
	}
	if matching(s.commits, s.digest, -1) < r.q.committed() {
		return
	}
	s.committed = true
	r.executeCommitted()
}

// preparedCertificate is the proof that s prepared: its pre-prepare (the
// digest, not the batch) and the matching prepares of backups.
func (r *Replica) preparedCertificate(s *slot) *wire.PreparedCertificate {
	cert := &wire.PreparedCertificate{PrePrepare: header(s.prePrepare)}
	primary := int(r.q.primary(s.prePrepare.GetView()))
	for i, p := range s.prepares {
		if i != primary && string(p.GetDigest()) == string(s.digest[:]) {
			cert.Prepares = append(cert.Prepares, p)
		}
	}
	return cert
}

// requestDigest is req's digest, and the session's state when req is the
// request this replica holds for it (same timestamp, read-only flag and
// operation bytes; the key and session name the session), else nil. For a
// held request it is the digest kept with it: bytes compared cost far less
// than hashed again, and a backup holds most of a batch from the clients
// already (at 4 KB operations the hash was most of a backup's work on a
// batch). Anything else is hashed, so a pre-prepare cannot pass another
// request's bytes under a held one's digest.
func (r *Replica) requestDigest(req *wire.Request) (crypto.Digest, *clientState) {
	if cs := r.clients[keyOf(req)]; cs != nil && cs.pending != nil {
		p := cs.pending
		if p.GetTimestamp() == req.GetTimestamp() && p.GetReadOnly() == req.GetReadOnly() && bytes.Equal(p.GetOperation(), req.GetOperation()) {
			return cs.pendingDigest, cs
		}
	}
	return RequestDigest(r.cfg.ClusterID, req), nil
}
