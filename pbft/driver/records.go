package driver

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/storage"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// stored remembers, by sequence number, the pre-prepare records the store
// holds above the stable checkpoint, so a committed batch whose pre-prepare
// is among them is stored as a reference to it: its requests are written
// once, not once more when the batch commits.
type stored map[uint64]storedPrePrepare

type storedPrePrepare struct {
	view   uint64
	digest string
}

// forgetBelow drops what the store deleted with the log below seq.
func (s stored) forgetBelow(seq uint64) {
	for k := range s {
		if k < seq {
			delete(s, k)
		}
	}
}

// committedRef marks a committed-batch record that refers to the stored
// pre-prepare of its sequence number and view, followed by its digest. A
// protobuf encoding never starts with 0xff (wire type 7 does not exist),
// so it cannot be mistaken for a full batch.
const committedRef = 0xff

// recordsOf turns what a Ready asks to persist into storage records.
func recordsOf(id uint32, rd pbft.Ready, pps stored) ([]storage.Record, error) {
	recs := make([]storage.Record, 0, len(rd.Persist)+len(rd.Executed))
	for _, m := range rd.Persist {
		rec, err := messageRecord(id, m)
		if err != nil {
			return nil, err
		}
		if pp := m.GetPrePrepare(); pp != nil {
			pps[pp.GetSequence()] = storedPrePrepare{view: pp.GetView(), digest: string(pp.GetDigest())}
		}
		recs = append(recs, rec)
	}
	if v := rd.View; v != nil {
		// The view record: View is the view, Sequence 1 while changing to it.
		changing := uint64(0)
		if v.Changing {
			changing = 1
		}
		recs = append(recs, storage.Record{Kind: storage.KindView, View: v.View, Sequence: changing, Replica: id})
	}
	for _, pc := range rd.Prepared {
		data, err := proto.Marshal(pc)
		if err != nil {
			return nil, fmt.Errorf("encode prepared certificate: %w", err)
		}
		pp := pc.GetPrePrepare()
		recs = append(recs, storage.Record{Kind: storage.KindPreparedCert, Sequence: pp.GetSequence(), View: pp.GetView(), Replica: id, Data: data})
	}
	for _, ex := range rd.Executed {
		rec := storage.Record{Kind: storage.KindCommitted, Sequence: ex.Sequence, View: ex.PrePrepare.GetView()}
		if ref, ok := pps[ex.Sequence]; ok && ref.view == ex.PrePrepare.GetView() && ref.digest == string(ex.PrePrepare.GetDigest()) {
			rec.Data = append([]byte{committedRef}, ex.PrePrepare.GetDigest()...)
		} else {
			data, err := proto.Marshal(ex.PrePrepare)
			if err != nil {
				return nil, fmt.Errorf("encode committed batch %d: %w", ex.Sequence, err)
			}
			rec.Data = data
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// committedBatch decodes a committed-batch record, resolving a reference
// against the pre-prepares loaded from the store, by sequence and view.
func committedBatch(rec storage.Record, pps map[[2]uint64]*wire.PrePrepare) (*wire.PrePrepare, error) {
	if len(rec.Data) > 0 && rec.Data[0] == committedRef {
		pp := pps[[2]uint64{rec.Sequence, rec.View}]
		if pp == nil || string(pp.GetDigest()) != string(rec.Data[1:]) {
			return nil, fmt.Errorf("committed batch %d refers to a pre-prepare of view %d the store does not hold", rec.Sequence, rec.View)
		}
		return pp, nil
	}
	pp := &wire.PrePrepare{}
	if err := proto.Unmarshal(rec.Data, pp); err != nil {
		return nil, fmt.Errorf("decode committed batch %d: %w", rec.Sequence, err)
	}
	return pp, nil
}

func messageRecord(id uint32, m *wire.Message) (storage.Record, error) {
	rec := storage.Record{Replica: id}
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		rec.Kind, rec.Sequence, rec.View = storage.KindPrePrepare, c.PrePrepare.GetSequence(), c.PrePrepare.GetView()
	case *wire.Message_Prepare:
		rec.Kind, rec.Sequence, rec.View = storage.KindPrepare, c.Prepare.GetSequence(), c.Prepare.GetView()
	case *wire.Message_Commit:
		rec.Kind, rec.Sequence, rec.View = storage.KindCommit, c.Commit.GetSequence(), c.Commit.GetView()
	default:
		return rec, fmt.Errorf("persist: unexpected message %T", m.Content)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return rec, fmt.Errorf("encode %T: %w", m.Content, err)
	}
	rec.Data = data
	return rec, nil
}

// load reads what the store holds back into the form the core restarts
// from, and which pre-prepares it holds (see stored).
func load(db *storage.DB) (pbft.Durable, stored, error) {
	d, pps, err := loadRecords(db)
	if err != nil {
		return d, nil, err
	}
	held := make(stored, len(pps))
	for k, pp := range pps {
		held[k[0]] = storedPrePrepare{view: k[1], digest: string(pp.GetDigest())}
	}
	return d, held, nil
}

func loadRecords(db *storage.DB) (pbft.Durable, map[[2]uint64]*wire.PrePrepare, error) {
	var d pbft.Durable
	_, snap, err := db.Snapshot()
	if err != nil {
		return d, nil, fmt.Errorf("load snapshot: %w", err)
	}
	if snap != nil {
		d.Stable = &wire.StateSnapshot{}
		if err := proto.Unmarshal(snap, d.Stable); err != nil {
			return d, nil, fmt.Errorf("decode snapshot: %w", err)
		}
	}
	recs, err := db.Load()
	if err != nil {
		return d, nil, fmt.Errorf("load log: %w", err)
	}
	pps := make(map[[2]uint64]*wire.PrePrepare)
	var committed []storage.Record
	for _, rec := range recs {
		switch rec.Kind {
		case storage.KindPrePrepare, storage.KindPrepare, storage.KindCommit:
			m := &wire.Message{}
			if err := proto.Unmarshal(rec.Data, m); err != nil {
				return d, nil, fmt.Errorf("decode %v record at %d: %w", rec.Kind, rec.Sequence, err)
			}
			if pp := m.GetPrePrepare(); pp != nil {
				pps[[2]uint64{pp.GetSequence(), pp.GetView()}] = pp
			}
			d.Log = append(d.Log, m)
		case storage.KindCommitted:
			committed = append(committed, rec)
		case storage.KindPreparedCert:
			pc := &wire.PreparedCertificate{}
			if err := proto.Unmarshal(rec.Data, pc); err != nil {
				return d, nil, fmt.Errorf("decode prepared certificate %d: %w", rec.Sequence, err)
			}
			d.Prepared = append(d.Prepared, pc)
		case storage.KindView:
			d.View, d.ViewChanging = rec.View, rec.Sequence == 1
		}
	}
	// Deletion below a stable checkpoint is not atomic: after a crash in
	// the middle of it, a committed batch at or below the snapshot may
	// outlive the pre-prepare it refers to. The snapshot covers it.
	stable := d.Stable.GetSequence()
	for _, rec := range committed {
		pp, err := committedBatch(rec, pps)
		if err != nil {
			if rec.Sequence <= stable {
				continue
			}
			return d, nil, err
		}
		d.Committed = append(d.Committed, pp)
	}
	return d, pps, nil
}
