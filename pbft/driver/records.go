package driver

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/storage"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// recordsOf turns what a Ready asks to persist into storage records.
func recordsOf(id uint32, rd pbft.Ready) ([]storage.Record, error) {
	recs := make([]storage.Record, 0, len(rd.Persist)+len(rd.Executed))
	for _, m := range rd.Persist {
		rec, err := messageRecord(id, m)
		if err != nil {
			return nil, err
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
		data, err := proto.Marshal(ex.PrePrepare)
		if err != nil {
			return nil, fmt.Errorf("encode committed batch %d: %w", ex.Sequence, err)
		}
		recs = append(recs, storage.Record{Kind: storage.KindCommitted, Sequence: ex.Sequence, View: ex.View, Data: data})
	}
	return recs, nil
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

// load reads what the store holds back into the form the core restarts from.
func load(db *storage.DB) (pbft.Durable, error) {
	var d pbft.Durable
	_, snap, err := db.Snapshot()
	if err != nil {
		return d, fmt.Errorf("load snapshot: %w", err)
	}
	if snap != nil {
		d.Stable = &wire.StateSnapshot{}
		if err := proto.Unmarshal(snap, d.Stable); err != nil {
			return d, fmt.Errorf("decode snapshot: %w", err)
		}
	}
	recs, err := db.Load()
	if err != nil {
		return d, fmt.Errorf("load log: %w", err)
	}
	for _, rec := range recs {
		switch rec.Kind {
		case storage.KindPrePrepare, storage.KindPrepare, storage.KindCommit:
			m := &wire.Message{}
			if err := proto.Unmarshal(rec.Data, m); err != nil {
				return d, fmt.Errorf("decode %v record at %d: %w", rec.Kind, rec.Sequence, err)
			}
			d.Log = append(d.Log, m)
		case storage.KindCommitted:
			pp := &wire.PrePrepare{}
			if err := proto.Unmarshal(rec.Data, pp); err != nil {
				return d, fmt.Errorf("decode committed batch %d: %w", rec.Sequence, err)
			}
			d.Committed = append(d.Committed, pp)
		case storage.KindPreparedCert:
			pc := &wire.PreparedCertificate{}
			if err := proto.Unmarshal(rec.Data, pc); err != nil {
				return d, fmt.Errorf("decode prepared certificate %d: %w", rec.Sequence, err)
			}
			d.Prepared = append(d.Prepared, pc)
		case storage.KindView:
			d.View, d.ViewChanging = rec.View, rec.Sequence == 1
		}
	}
	return d, nil
}
