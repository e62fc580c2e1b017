package driver

import (
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
)

func openMemStore(t *testing.T) (*badgerStore, *storage.DB) {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &badgerStore{db: db, chunk: storage.DefaultChunkSize}, db
}

func committedAt(seq uint64) pbft.Record {
	return pbft.Record{Kind: pbft.RecordCommitted, Sequence: seq, View: 0, Data: []byte(fmt.Sprintf("batch %d", seq))}
}

// inBadger is what Badger itself holds of kind at seq, past the store's
// held-back records.
func inBadger(t *testing.T, db *storage.DB, kind pbft.RecordKind, seq uint64) int {
	t.Helper()
	recs, err := db.LoadAt(storage.Kind(kind), seq)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// An unsynced write waits for the next synced one and goes to disk in front
// of it; meanwhile the store answers with it.
func TestUnsyncedWritesRideWithTheNextSyncedOne(t *testing.T) {
	s, db := openMemStore(t)
	if err := s.Write([]pbft.Record{committedAt(5)}, false); err != nil {
		t.Fatal(err)
	}
	if n := inBadger(t, db, pbft.RecordCommitted, 5); n != 0 {
		t.Fatalf("an unsynced write went to Badger at once (%d records): it costs a synced commit", n)
	}
	if got, err := s.LoadAt(pbft.RecordCommitted, 5); err != nil || len(got) != 1 || string(got[0].Data) != "batch 5" {
		t.Fatalf("LoadAt of a held-back record: %v, %v", got, err)
	}
	if err := s.Write([]pbft.Record{{Kind: pbft.RecordPrepare, Sequence: 6, Data: []byte("p")}}, true); err != nil {
		t.Fatal(err)
	}
	if inBadger(t, db, pbft.RecordCommitted, 5) != 1 || inBadger(t, db, pbft.RecordPrepare, 6) != 1 {
		t.Fatal("a synced write did not take the held-back one to disk with it")
	}
	if got, _ := s.LoadAt(pbft.RecordCommitted, 5); len(got) != 1 {
		t.Fatalf("%d records at 5 once written, want 1", len(got))
	}
}

// Held-back records go to disk before a deletion, so none below the cut is
// written after it and survives it.
func TestDeletionComesAfterTheHeldBackWrites(t *testing.T) {
	s, db := openMemStore(t)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.Write([]pbft.Record{committedAt(seq)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBelow(3); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq < 3; seq++ {
		if inBadger(t, db, pbft.RecordCommitted, seq) != 0 {
			t.Fatalf("the record at %d, below the cut 3, survived the deletion", seq)
		}
	}
	if err := s.Write(nil, true); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq < 3; seq++ {
		if inBadger(t, db, pbft.RecordCommitted, seq) != 0 {
			t.Fatalf("the record at %d, below the cut 3, was written after the deletion", seq)
		}
	}
	if inBadger(t, db, pbft.RecordCommitted, 3) != 1 {
		t.Fatal("the record at the cut was lost")
	}
}

// What is held back is bounded: past maxDeferredRecords the writes go to
// disk unasked.
func TestHeldBackWritesAreBounded(t *testing.T) {
	s, db := openMemStore(t)
	for seq := uint64(1); seq <= maxDeferredRecords; seq++ {
		if err := s.Write([]pbft.Record{committedAt(seq)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.deferred) != 0 || inBadger(t, db, pbft.RecordCommitted, 1) != 1 {
		t.Fatalf("%d records held back after %d unsynced writes, want them written", len(s.deferred), maxDeferredRecords)
	}
}
