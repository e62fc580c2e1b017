package pbft

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Durable is what a replica's driver persisted, handed back at start-up.
type Durable struct {
	// View is the last view the replica persisted, and whether it was
	// changing to it (VIEW-CHANGE sent, NEW-VIEW not yet accepted).
	View         uint64
	ViewChanging bool
	// NewView is the NEW-VIEW the replica issued as the primary of View, if
	// it did.
	NewView *wire.NewView
	// Stable is the latest state persisted (Ready.Stable or Ready.Restored),
	// or nil before the first.
	Stable *wire.StateSnapshot
	// Low is the latest Ready.Low, if above Stable: a low watermark the
	// replica adopted before it held the state there.
	Low *wire.StableProof
	// Log holds the Ready.Persist messages kept since Stable: accepted or
	// issued pre-prepares and the replica's own prepares and commits.
	Log []*wire.Message
	// Committed holds the pre-prepares of Ready.Executed batches kept since
	// Stable, in any order.
	Committed []*wire.PrePrepare
	// Prepared holds the Ready.Prepared certificates kept since Stable.
	Prepared []*wire.PreparedCertificate
}

// Restart makes a replica from what its driver persisted: it restores the
// stable checkpoint's state, re-executes the committed batches above it, and
// takes back every message it sent, so it never contradicts them.
func Restart(cfg Config, d Durable) (*Replica, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.view = d.View
	if ss := d.Stable; ss != nil {
		if err := r.restoreStable(ss); err != nil {
			return nil, err
		}
	}
	if low := d.Low; low != nil && low.GetSequence() > r.low {
		if err := r.restoreLow(low); err != nil {
			return nil, err
		}
	}
	if nv := d.NewView; nv != nil && nv.GetView() == r.view && nv.GetReplica() == r.cfg.ID && !d.ViewChanging {
		r.newView = nv
	}
	for _, m := range d.Log {
		r.restoreMessage(m)
		if cm := m.GetCommit(); cm != nil && cm.GetReplica() == r.cfg.ID {
			r.readFence = max(r.readFence, cm.GetSequence())
		}
	}
	for _, pc := range d.Prepared {
		// Older versions stored certificates with their batches; a
		// VIEW-CHANGE carries digests only.
		pc = &wire.PreparedCertificate{PrePrepare: header(pc.GetPrePrepare()), Prepares: pc.GetPrepares()}
		r.restorePrepared(pc)
		seq := pc.GetPrePrepare().GetSequence()
		if prev := r.preparedCerts[seq]; seq > r.low && (prev == nil || prev.GetPrePrepare().GetView() < pc.GetPrePrepare().GetView()) {
			r.preparedCerts[seq] = pc
		}
	}
	committed := make(map[uint64]*wire.PrePrepare, len(d.Committed))
	for _, pp := range d.Committed {
		committed[pp.GetSequence()] = pp
	}
	for pp := committed[r.lastExec+1]; pp != nil; pp = committed[r.lastExec+1] {
		if !r.inWindow(pp.GetSequence()) {
			break
		}
		d, err := digestOf(pp.GetDigest())
		if err != nil {
			return nil, fmt.Errorf("restart: committed batch %d: %w", pp.GetSequence(), err)
		}
		s := r.slot(pp.GetSequence())
		s.prePrepare, s.digest, s.prepared, s.committed, s.needBatch = pp, d, true, true, false
		r.execute(pp.GetSequence(), s)
	}
	// Pre-prepares restored as digests (re-issued by a NEW-VIEW whose batch
	// had not arrived before the crash) are fetched again.
	for seq, s := range r.slots {
		if s.needBatch && seq > r.lastExec {
			r.wantBatch(seq, s.digest, nil, nil)
		}
	}
	// Re-execution may have gone past the last sequence number this replica
	// assigned as primary: it must never assign one it executed again.
	r.nextSeq = max(r.nextSeq, r.lastExec)
	r.ready = Ready{Messages: r.ready.Messages} // nothing new to persist: it all came from disk
	if d.ViewChanging && !bug(BugRestartForgetsViewChange) {
		// It crashed waiting for a NEW-VIEW: ask again for the same view.
		r.startViewChange(d.View)
		r.failedViews = 0
	}
	return r, nil
}

// restoreStable installs the persisted stable checkpoint, trusting the
// replica's own disk but still checking the certificate's shape and that
// the state decodes. A snapshot stored by an earlier version (service
// snapshot and reply cache in fields of their own) is read too.
func (r *Replica) restoreStable(ss *wire.StateSnapshot) error {
	if _, err := r.checkCertificate(ss.GetSequence(), ss.GetCertificate()); err != nil {
		return fmt.Errorf("restart: stable checkpoint %d: %w", ss.GetSequence(), err)
	}
	svc, blob := ss.GetServiceSnapshot(), ss.GetState()
	var table clientTable
	var err error
	if len(blob) > 0 {
		if svc, table, err = decodeState(blob, r.cfg.MaxSessions); err != nil {
			return fmt.Errorf("restart: stable checkpoint %d: %w", ss.GetSequence(), err)
		}
	} else if table, err = r.legacyClientTable(ss.GetReplyCache()); err != nil {
		return fmt.Errorf("restart: reply cache: %w", err)
	}
	if err := r.svc.Restore(svc); err != nil {
		return fmt.Errorf("restart: service snapshot at %d: %w", ss.GetSequence(), err)
	}
	if len(blob) == 0 {
		blob = encodeState(svc, table)
	}
	r.installState(ss, table, newSnapshot(r.cfg.ClusterID, blob, r.cfg.StateChunkSize))
	r.ready = Ready{}
	return nil
}

// restoreLow raises the low watermark to a stable checkpoint the replica
// adopted, from a NEW-VIEW, above the state it holds; it fetches that state
// as it would have before the crash.
func (r *Replica) restoreLow(low *wire.StableProof) error {
	if _, err := r.checkCertificate(low.GetSequence(), low.GetCertificate()); err != nil {
		return fmt.Errorf("restart: stable proof %d: %w", low.GetSequence(), err)
	}
	r.adoptStable(low.GetSequence(), low.GetCertificate())
	r.ready = Ready{}
	return nil
}

// restoreMessage puts a message the replica persisted back into its log.
func (r *Replica) restoreMessage(m *wire.Message) {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		pp := c.PrePrepare
		d, err := digestOf(pp.GetDigest())
		if err != nil || pp.GetView() != r.view || !r.inWindow(pp.GetSequence()) {
			return
		}
		s := r.slot(pp.GetSequence())
		s.prePrepare, s.digest, s.needBatch = pp, d, !r.holdsBatch(pp, d)
		if pp.GetReplica() == r.cfg.ID {
			r.nextSeq = max(r.nextSeq, pp.GetSequence())
		}
		for _, req := range pp.GetRequests() {
			r.markOrdered(req, RequestDigest(r.cfg.ClusterID, req))
		}
	case *wire.Message_Prepare:
		p := c.Prepare
		if p.GetView() == r.view && r.inWindow(p.GetSequence()) && p.GetReplica() == r.cfg.ID {
			r.slot(p.GetSequence()).prepares[r.cfg.ID] = p
		}
	case *wire.Message_Commit:
		cm := c.Commit
		if cm.GetView() == r.view && r.inWindow(cm.GetSequence()) && cm.GetReplica() == r.cfg.ID {
			s := r.slot(cm.GetSequence())
			s.commits[r.cfg.ID] = cm
			// It committed, so it had prepared: the pre-prepare came first in
			// the log, as it was persisted first.
			s.prepared = s.prePrepare != nil && string(cm.GetDigest()) == string(s.digest[:])
		}
	}
}

// restorePrepared puts back the prepares of a certificate the replica formed
// before it crashed, for a pre-prepare it still holds.
func (r *Replica) restorePrepared(pc *wire.PreparedCertificate) {
	pp := pc.GetPrePrepare()
	if pp.GetView() != r.view || !r.inWindow(pp.GetSequence()) {
		return
	}
	s := r.slots[pp.GetSequence()]
	if s == nil || s.prePrepare == nil || string(pp.GetDigest()) != string(s.digest[:]) {
		return
	}
	for _, p := range pc.GetPrepares() {
		if int(p.GetReplica()) < r.q.n && p.GetSequence() == pp.GetSequence() && p.GetView() == pp.GetView() {
			s.prepares[p.GetReplica()] = p
		}
	}
	s.prepared = matching(s.prepares, s.digest, int(r.q.primary(r.view))) >= r.q.prepared()
}
