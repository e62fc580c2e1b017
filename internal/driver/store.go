package driver

import (
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
)

// badgerStore is the replica's Badger store as the persistence rule's
// Storage (pbft.Persister decides what goes in it).
//
// Badger syncs every commit, so a write the rule does not need synced (a
// committed batch: peers can resend its commits) is held back instead and
// goes to disk in front of the next write that must be synced, or before a
// snapshot or a deletion. That is the weakest behaviour the Storage contract
// allows, the one pbft.MemStore gives the simulator's crash tests: what a
// crash loses is the writes after the last synced one. It saves each replica
// one synced write per batch, and the reply that waited for it.
type badgerStore struct {
	db *storage.DB
	// chunk is the size of the chunks snapshots are stored in.
	chunk int
	// deferred are unsynced writes not yet handed to Badger, in order;
	// deferredBytes is their data's size.
	deferred      []storage.Record
	deferredBytes int
	// synced counts the synced operations handed to Badger: writes,
	// snapshots and deletions (the metric store_synced_writes_total).
	synced uint64
}

// Bounds on what badgerStore holds back: past either, the held writes go
// to disk with the next write.
const (
	maxDeferredRecords = 1024
	maxDeferredBytes   = 8 << 20
)

// Write implements pbft.Storage; the record kinds are the store's own.
func (s *badgerStore) Write(recs []pbft.Record, sync bool) error {
	for _, r := range recs {
		s.deferred = append(s.deferred, storage.Record{Kind: storage.Kind(r.Kind), Sequence: r.Sequence, View: r.View, Replica: r.Replica, Data: r.Data})
		s.deferredBytes += len(r.Data)
	}
	if !sync && len(s.deferred) < maxDeferredRecords && s.deferredBytes < maxDeferredBytes {
		return nil
	}
	return s.flush()
}

// flush writes the held-back records, durably.
func (s *badgerStore) flush() error {
	if len(s.deferred) == 0 {
		return nil
	}
	s.synced++
	if err := s.db.Write(s.deferred, true); err != nil {
		return err
	}
	clear(s.deferred) // drop the references to their data
	s.deferred, s.deferredBytes = s.deferred[:0], 0
	return nil
}

// PutSnapshot implements pbft.Storage.
func (s *badgerStore) PutSnapshot(seq uint64, data []byte) error {
	if err := s.flush(); err != nil {
		return err
	}
	s.synced++
	return s.db.PutSnapshot(seq, data, s.chunk)
}

// DeleteBelow implements pbft.Storage. The held-back records go first, so
// that none below seq is written after the deletion.
func (s *badgerStore) DeleteBelow(seq uint64) error {
	if err := s.flush(); err != nil {
		return err
	}
	s.synced++
	return s.db.DeleteBelow(seq)
}

// Snapshot implements pbft.Storage.
func (s *badgerStore) Snapshot() (uint64, []byte, error) { return s.db.Snapshot() }

// Load implements pbft.Storage.
func (s *badgerStore) Load() ([]pbft.Record, error) {
	if err := s.flush(); err != nil { // in key order with the rest
		return nil, err
	}
	recs, err := s.db.Load()
	if err != nil {
		return nil, err
	}
	return fromStorage(recs), nil
}

// LoadAt implements pbft.Storage: what Badger holds, then the held-back
// records of that kind and sequence number.
func (s *badgerStore) LoadAt(kind pbft.RecordKind, seq uint64) ([]pbft.Record, error) {
	recs, err := s.db.LoadAt(storage.Kind(kind), seq)
	if err != nil {
		return nil, err
	}
	for _, r := range s.deferred {
		if r.Kind == storage.Kind(kind) && r.Sequence == seq {
			recs = append(recs, r)
		}
	}
	return fromStorage(recs), nil
}

func fromStorage(recs []storage.Record) []pbft.Record {
	out := make([]pbft.Record, len(recs))
	for i, r := range recs {
		out[i] = pbft.Record{Kind: pbft.RecordKind(r.Kind), Sequence: r.Sequence, View: r.View, Replica: r.Replica, Data: r.Data}
	}
	return out
}
