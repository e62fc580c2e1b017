package driver

import (
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
)

// badgerStore is the replica's Badger store as the persistence rule's
// Storage (pbft.Persister decides what goes in it).
type badgerStore struct {
	db *storage.DB
	// chunk is the size of the chunks snapshots are stored in.
	chunk int
}

// Write implements pbft.Storage; the record kinds are the store's own.
func (s badgerStore) Write(recs []pbft.Record, sync bool) error {
	out := make([]storage.Record, len(recs))
	for i, r := range recs {
		out[i] = storage.Record{Kind: storage.Kind(r.Kind), Sequence: r.Sequence, View: r.View, Replica: r.Replica, Data: r.Data}
	}
	return s.db.Write(out, sync)
}

// PutSnapshot implements pbft.Storage.
func (s badgerStore) PutSnapshot(seq uint64, data []byte) error {
	return s.db.PutSnapshot(seq, data, s.chunk)
}

// DeleteBelow implements pbft.Storage.
func (s badgerStore) DeleteBelow(seq uint64) error { return s.db.DeleteBelow(seq) }

// Snapshot implements pbft.Storage.
func (s badgerStore) Snapshot() (uint64, []byte, error) { return s.db.Snapshot() }

// Load implements pbft.Storage.
func (s badgerStore) Load() ([]pbft.Record, error) {
	recs, err := s.db.Load()
	if err != nil {
		return nil, err
	}
	out := make([]pbft.Record, len(recs))
	for i, r := range recs {
		out[i] = pbft.Record{Kind: pbft.RecordKind(r.Kind), Sequence: r.Sequence, View: r.View, Replica: r.Replica, Data: r.Data}
	}
	return out, nil
}

// LoadAt implements pbft.Storage.
func (s badgerStore) LoadAt(kind pbft.RecordKind, seq uint64) ([]pbft.Record, error) {
	recs, err := s.db.LoadAt(storage.Kind(kind), seq)
	if err != nil {
		return nil, err
	}
	out := make([]pbft.Record, len(recs))
	for i, r := range recs {
		out[i] = pbft.Record{Kind: pbft.RecordKind(r.Kind), Sequence: r.Sequence, View: r.View, Replica: r.Replica, Data: r.Data}
	}
	return out, nil
}
