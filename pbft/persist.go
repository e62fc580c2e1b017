package pbft

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// The persistence rule: Persister is the one piece of code that turns a
// Ready into durable records, and OpenPersister the one that reads them back
// as the Durable that Restart takes. The driver runs it over Badger, the
// simulator and the tests over MemStore; nothing else decides what a replica
// keeps across a crash.
//
// What each record guards (a crash may land between any two writes, and
// between the last write and any send):
//   - pre-prepares it accepted or issued, and its own prepares and commits:
//     synced before the message leaves, so it never signs another digest for
//     the same (view, sequence number) after a restart;
//   - prepared certificates: synced with the commit that reveals them, so a
//     VIEW-CHANGE after a restart still proves them;
//   - the view, whether it was changing to it, and at the primary the
//     NEW-VIEW it issued: synced before any message of that view;
//   - the low watermark: a stable checkpoint with its state (a snapshot),
//     or, adopted from a NEW-VIEW without the state, its proof. Synced before
//     anything above it leaves; after a restart h is never lower than it was,
//     so nothing persisted above the old window is dropped;
//   - committed batches above the snapshot: written without a sync (peers
//     can resend them), replayed at restart.

// RecordKind is the type of a durable record. The values are the ones the
// Badger store keys records by: changing one makes existing data
// directories unreadable.
type RecordKind uint8

// The record kinds.
const (
	// RecordView is the view, whether it is changing to it (Sequence 1), and
	// at a primary the NEW-VIEW that started it (Data). One record, overwritten.
	RecordView RecordKind = 1
	// RecordPrePrepare is a pre-prepare the replica accepted or issued.
	RecordPrePrepare RecordKind = 2
	// RecordPrepare is the replica's own prepare.
	RecordPrepare RecordKind = 3
	// RecordCommit is the replica's own commit.
	RecordCommit RecordKind = 4
	// RecordPrepared is a prepared certificate the replica formed.
	RecordPrepared RecordKind = 5
	// RecordCommitted is a batch executed since the snapshot, or a reference
	// to the stored pre-prepare that holds it.
	RecordCommitted RecordKind = 6
	// RecordStableProof is a low watermark adopted without its state.
	RecordStableProof RecordKind = 7
)

// Record is one durable item. Sequence orders deletion: DeleteBelow removes
// records below a stable checkpoint.
type Record struct {
	Kind     RecordKind
	Sequence uint64
	View     uint64
	Replica  uint32
	Data     []byte
}

// Storage is a replica's disk as the persistence rule uses it.
type Storage interface {
	// Write stores recs atomically: after a crash all of them or none are
	// there. With sync they, and everything written before, are durable
	// when it returns; without, a crash may lose them.
	Write(recs []Record, sync bool) error
	// PutSnapshot durably stores data as the state at seq, replacing the
	// previous snapshot only once complete. A seq below the stored one is
	// refused.
	PutSnapshot(seq uint64, data []byte) error
	// DeleteBelow durably deletes every record with Sequence below seq but
	// the view record, and every snapshot but the latest.
	DeleteBelow(seq uint64) error
	// Snapshot returns the latest snapshot, or nil data if there is none.
	Snapshot() (seq uint64, data []byte, err error)
	// Load returns every stored record in key order: kind, sequence, view,
	// replica.
	Load() ([]Record, error)
	// LoadAt returns the records of one kind at one sequence number.
	LoadAt(kind RecordKind, seq uint64) ([]Record, error)
}

// Persister makes a replica's Readys durable in its Storage.
type Persister struct {
	store Storage
	id    uint32
	// pps remembers the pre-prepares stored above the snapshot, so a
	// committed batch among them is stored as a reference: its requests are
	// written once, not again when the batch commits.
	pps map[uint64]storedPrePrepare
}

type storedPrePrepare struct {
	view   uint64
	digest string
}

// committedRef marks a committed-batch record that refers to the stored
// pre-prepare of its sequence number and view, followed by its digest. A
// protobuf encoding never starts with 0xff (wire type 7 does not exist), so
// it cannot be mistaken for a full batch.
const committedRef = 0xff

// OpenPersister reads what store holds back into the Durable a replica
// restarts from, and returns the persister that goes on writing to it.
func OpenPersister(store Storage, id uint32) (*Persister, Durable, error) {
	d, pps, err := loadDurable(store)
	if err != nil {
		return nil, Durable{}, err
	}
	p := &Persister{store: store, id: id, pps: make(map[uint64]storedPrePrepare, len(pps))}
	for k, pp := range pps {
		if len(pp.GetRequests()) > 0 {
			p.pps[k[0]] = storedPrePrepare{view: k[1], digest: string(pp.GetDigest())}
		}
	}
	return p, d, nil
}

// Batch returns the requests of the batch with digest at seq, if the store
// holds them: every replica keeps the requests of each pre-prepare it
// accepted or issued, and of each batch it executed, until a stable
// checkpoint passes them. Drivers answer FetchBatch with it.
func (p *Persister) Batch(seq uint64, digest []byte) ([]*wire.Request, bool) {
	pps, err := p.store.LoadAt(RecordPrePrepare, seq)
	if err != nil {
		return nil, false
	}
	byView := make(map[[2]uint64]*wire.PrePrepare, len(pps))
	for _, rec := range pps {
		m := &wire.Message{}
		if proto.Unmarshal(rec.Data, m) != nil || m.GetPrePrepare() == nil {
			continue
		}
		pp := m.GetPrePrepare()
		if string(pp.GetDigest()) == string(digest) && len(pp.GetRequests()) > 0 {
			return pp.GetRequests(), true
		}
		byView[[2]uint64{pp.GetSequence(), pp.GetView()}] = pp
	}
	committed, err := p.store.LoadAt(RecordCommitted, seq)
	if err != nil {
		return nil, false
	}
	for _, rec := range committed {
		pp, err := committedBatch(rec, byView)
		if err == nil && string(pp.GetDigest()) == string(digest) {
			return pp.GetRequests(), true
		}
	}
	return nil, false
}

// AnswerFetchBatch is the Batch message that answers fb from the store, or
// nil when the store does not hold that batch.
func (p *Persister) AnswerFetchBatch(fb *wire.FetchBatch) *wire.Message {
	reqs, ok := p.Batch(fb.GetSequence(), fb.GetDigest())
	if !ok {
		return nil
	}
	return &wire.Message{Content: &wire.Message_Batch{Batch: &wire.Batch{
		Sequence: fb.GetSequence(), Digest: fb.GetDigest(), Requests: reqs, Replica: p.id,
	}}}
}

// Persist makes durable everything rd binds the replica to. It returns
// before any of rd.Messages may be sent, and only then: a driver that sends
// first, or sends after an error, can make its replica contradict itself
// after a crash.
func (p *Persister) Persist(rd Ready) error {
	recs, err := p.records(rd)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		if err := p.store.Write(recs, rd.binds()); err != nil {
			return fmt.Errorf("persist: %w", err)
		}
	}
	cut := uint64(0) // records below it are obsolete
	if snap := newestState(rd.Stable, rd.Restored); snap != nil {
		data, err := proto.Marshal(snap)
		if err != nil {
			return fmt.Errorf("persist: encode the state at %d: %w", snap.GetSequence(), err)
		}
		if err := p.store.PutSnapshot(snap.GetSequence(), data); err != nil {
			return fmt.Errorf("persist: the state at %d: %w", snap.GetSequence(), err)
		}
		cut = snap.GetSequence() + 1
	}
	if low := rd.Low; low != nil && !bug(BugAdoptedLowNotPersisted) {
		// Its proof was just synced under its own sequence number, which
		// this deletion keeps.
		cut = max(cut, low.GetSequence())
	}
	if cut > 0 {
		if err := p.store.DeleteBelow(cut); err != nil {
			return fmt.Errorf("persist: delete the log below %d: %w", cut, err)
		}
		for seq := range p.pps {
			if seq < cut {
				delete(p.pps, seq)
			}
		}
	}
	return nil
}

// PersistAll makes rds durable in order, as Persist would one after the
// other, but with the records of consecutive Readys that carry no state
// and no low watermark written together: one synced write for what a
// driver's loop produced while the last write synced (group commit). A
// crash leaves a prefix of them durable.
func (p *Persister) PersistAll(rds []Ready) error {
	var recs []Record
	binds := false
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		err := p.store.Write(recs, binds)
		recs, binds = nil, false
		if err != nil {
			return fmt.Errorf("persist: %w", err)
		}
		return nil
	}
	for _, rd := range rds {
		if newestState(rd.Stable, rd.Restored) != nil || rd.Low != nil {
			if err := flush(); err != nil {
				return err
			}
			if err := p.Persist(rd); err != nil {
				return err
			}
			continue
		}
		r, err := p.records(rd)
		if err != nil {
			return err
		}
		recs = append(recs, r...)
		binds = binds || rd.binds()
	}
	return flush()
}

// binds reports whether rd holds something the replica's messages commit it
// to: those writes are synced; committed batches alone are not (peers can
// resend them).
func (rd Ready) binds() bool {
	return len(rd.Persist) > 0 || len(rd.Prepared) > 0 || rd.View != nil || rd.Low != nil
}

// newestState is the later of a new stable checkpoint and a restored state:
// either is the state a restart starts from.
func newestState(stable, restored *wire.StateSnapshot) *wire.StateSnapshot {
	switch {
	case stable == nil:
		return restored
	case restored == nil || stable.GetSequence() >= restored.GetSequence():
		return stable
	}
	return restored
}

// records turns what rd asks to persist into records.
func (p *Persister) records(rd Ready) ([]Record, error) {
	recs := make([]Record, 0, len(rd.Persist)+len(rd.Prepared)+len(rd.Executed)+2)
	for _, m := range rd.Persist {
		rec, err := p.messageRecord(m)
		if err != nil {
			return nil, err
		}
		if pp := m.GetPrePrepare(); pp != nil && len(pp.GetRequests()) > 0 {
			// Only a record with the requests can stand for a committed batch.
			p.pps[pp.GetSequence()] = storedPrePrepare{view: pp.GetView(), digest: string(pp.GetDigest())}
		}
		recs = append(recs, rec)
	}
	if v := rd.View; v != nil {
		rec := Record{Kind: RecordView, View: v.View, Replica: p.id}
		if v.Changing {
			rec.Sequence = 1
		}
		if v.NewView != nil && !bug(BugNewViewNotPersisted) {
			data, err := proto.Marshal(v.NewView)
			if err != nil {
				return nil, fmt.Errorf("persist: encode the NEW-VIEW of view %d: %w", v.View, err)
			}
			rec.Data = data
		}
		recs = append(recs, rec)
	}
	for _, pc := range rd.Prepared {
		data, err := proto.Marshal(pc)
		if err != nil {
			return nil, fmt.Errorf("persist: encode prepared certificate: %w", err)
		}
		pp := pc.GetPrePrepare()
		recs = append(recs, Record{Kind: RecordPrepared, Sequence: pp.GetSequence(), View: pp.GetView(), Replica: p.id, Data: data})
	}
	if low := rd.Low; low != nil && !bug(BugAdoptedLowNotPersisted) {
		data, err := proto.Marshal(low)
		if err != nil {
			return nil, fmt.Errorf("persist: encode the stable proof at %d: %w", low.GetSequence(), err)
		}
		recs = append(recs, Record{Kind: RecordStableProof, Sequence: low.GetSequence(), Replica: p.id, Data: data})
	}
	for _, ex := range rd.Executed {
		rec := Record{Kind: RecordCommitted, Sequence: ex.Sequence, View: ex.PrePrepare.GetView()}
		if ref, ok := p.pps[ex.Sequence]; ok && ref.view == ex.PrePrepare.GetView() && ref.digest == string(ex.PrePrepare.GetDigest()) {
			rec.Data = append([]byte{committedRef}, ex.PrePrepare.GetDigest()...)
		} else {
			data, err := proto.Marshal(ex.PrePrepare)
			if err != nil {
				return nil, fmt.Errorf("persist: encode committed batch %d: %w", ex.Sequence, err)
			}
			rec.Data = data
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func (p *Persister) messageRecord(m *wire.Message) (Record, error) {
	rec := Record{Replica: p.id}
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		rec.Kind, rec.Sequence, rec.View = RecordPrePrepare, c.PrePrepare.GetSequence(), c.PrePrepare.GetView()
	case *wire.Message_Prepare:
		rec.Kind, rec.Sequence, rec.View = RecordPrepare, c.Prepare.GetSequence(), c.Prepare.GetView()
	case *wire.Message_Commit:
		rec.Kind, rec.Sequence, rec.View = RecordCommit, c.Commit.GetSequence(), c.Commit.GetView()
	default:
		return rec, fmt.Errorf("persist: unexpected message %T", m.Content)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return rec, fmt.Errorf("persist: encode %T: %w", m.Content, err)
	}
	rec.Data = data
	return rec, nil
}

// ErrCorruptRecord marks a stored record the replica cannot use.
var ErrCorruptRecord = errors.New("corrupt durable record")

// loadDurable reads store back into a Durable, and the pre-prepares it holds
// by (sequence, view).
func loadDurable(store Storage) (Durable, map[[2]uint64]*wire.PrePrepare, error) {
	var d Durable
	_, snap, err := store.Snapshot()
	if err != nil {
		return d, nil, fmt.Errorf("load snapshot: %w", err)
	}
	if snap != nil {
		d.Stable = &wire.StateSnapshot{}
		if err := proto.Unmarshal(snap, d.Stable); err != nil {
			return d, nil, fmt.Errorf("%w: snapshot: %w", ErrCorruptRecord, err)
		}
	}
	recs, err := store.Load()
	if err != nil {
		return d, nil, fmt.Errorf("load log: %w", err)
	}
	pps := make(map[[2]uint64]*wire.PrePrepare)
	var committed []Record
	for _, rec := range recs {
		switch rec.Kind {
		case RecordPrePrepare, RecordPrepare, RecordCommit:
			m := &wire.Message{}
			if err := proto.Unmarshal(rec.Data, m); err != nil {
				return d, nil, fmt.Errorf("%w: kind %d at %d: %w", ErrCorruptRecord, rec.Kind, rec.Sequence, err)
			}
			if pp := m.GetPrePrepare(); pp != nil {
				pps[[2]uint64{pp.GetSequence(), pp.GetView()}] = pp
			}
			d.Log = append(d.Log, m)
		case RecordCommitted:
			committed = append(committed, rec)
		case RecordPrepared:
			pc := &wire.PreparedCertificate{}
			if err := proto.Unmarshal(rec.Data, pc); err != nil {
				return d, nil, fmt.Errorf("%w: prepared certificate %d: %w", ErrCorruptRecord, rec.Sequence, err)
			}
			d.Prepared = append(d.Prepared, pc)
		case RecordStableProof:
			sp := &wire.StableProof{}
			if err := proto.Unmarshal(rec.Data, sp); err != nil {
				return d, nil, fmt.Errorf("%w: stable proof %d: %w", ErrCorruptRecord, rec.Sequence, err)
			}
			if d.Low == nil || sp.GetSequence() > d.Low.GetSequence() {
				d.Low = sp
			}
		case RecordView:
			d.View, d.ViewChanging = rec.View, rec.Sequence == 1
			if len(rec.Data) > 0 {
				d.NewView = &wire.NewView{}
				if err := proto.Unmarshal(rec.Data, d.NewView); err != nil {
					return d, nil, fmt.Errorf("%w: the NEW-VIEW of view %d: %w", ErrCorruptRecord, rec.View, err)
				}
			}
		}
	}
	// Deletion below a stable checkpoint is not atomic: after a crash in
	// the middle of it, a committed batch at or below the low watermark may
	// outlive the pre-prepare it refers to. The snapshot or the proof covers
	// it.
	low := max(d.Stable.GetSequence(), d.Low.GetSequence())
	for _, rec := range committed {
		pp, err := committedBatch(rec, pps)
		if err != nil {
			if rec.Sequence <= low {
				continue
			}
			return d, nil, err
		}
		d.Committed = append(d.Committed, pp)
	}
	return d, pps, nil
}

// committedBatch decodes a committed-batch record, resolving a reference
// against the stored pre-prepares, by sequence and view.
func committedBatch(rec Record, pps map[[2]uint64]*wire.PrePrepare) (*wire.PrePrepare, error) {
	if len(rec.Data) > 0 && rec.Data[0] == committedRef {
		pp := pps[[2]uint64{rec.Sequence, rec.View}]
		if pp == nil || string(pp.GetDigest()) != string(rec.Data[1:]) {
			return nil, fmt.Errorf("%w: committed batch %d refers to a pre-prepare of view %d the store does not hold",
				ErrCorruptRecord, rec.Sequence, rec.View)
		}
		return pp, nil
	}
	pp := &wire.PrePrepare{}
	if err := proto.Unmarshal(rec.Data, pp); err != nil {
		return nil, fmt.Errorf("%w: committed batch %d: %w", ErrCorruptRecord, rec.Sequence, err)
	}
	return pp, nil
}
