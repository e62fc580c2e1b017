package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestSnapshotNone(t *testing.T) {
	db, _ := openTemp(t)
	seq, data, err := db.Snapshot()
	if seq != 0 || data != nil || err != nil {
		t.Fatalf("Snapshot on empty store = %d %v %v, want 0 nil nil", seq, data, err)
	}
	if _, _, err := db.SnapshotChunk(1, 0); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("SnapshotChunk on empty store: %v, want ErrNoSnapshot", err)
	}
}

func TestSnapshotChunksRoundtrip(t *testing.T) {
	db, _ := openTemp(t)
	data := pattern(10_000, 3)
	if err := db.PutSnapshot(42, data, 3000); err != nil {
		t.Fatal(err)
	}
	seq, got, err := db.Snapshot()
	if err != nil || seq != 42 || !bytes.Equal(got, data) {
		t.Fatalf("Snapshot = %d, %d bytes, %v", seq, len(got), err)
	}
	var joined []byte
	for i := 0; ; i++ {
		chunk, total, err := db.SnapshotChunk(42, i)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if total != 4 {
			t.Fatalf("total = %d, want 4", total)
		}
		if len(chunk) > 3000 {
			t.Fatalf("chunk %d has %d bytes > chunk size", i, len(chunk))
		}
		joined = append(joined, chunk...)
		if i == total-1 {
			break
		}
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("chunks do not join to the snapshot")
	}
	// An empty snapshot is a snapshot, distinguishable from none.
	if err := db.PutSnapshot(43, nil, 10); err != nil {
		t.Fatal(err)
	}
	if seq, got, err := db.Snapshot(); err != nil || seq != 43 || got == nil || len(got) != 0 {
		t.Fatalf("empty snapshot = %d %v %v", seq, got, err)
	}
}

func TestSnapshotChunkBounds(t *testing.T) {
	db, _ := openTemp(t)
	if err := db.PutSnapshot(7, pattern(100, 1), 40); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{-1, 3, 1 << 40} {
		if _, _, err := db.SnapshotChunk(7, i); !errors.Is(err, ErrChunkIndex) {
			t.Errorf("SnapshotChunk(7, %d): %v, want ErrChunkIndex", i, err)
		}
	}
	if _, _, err := db.SnapshotChunk(8, 0); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("SnapshotChunk(8, 0): %v, want ErrNoSnapshot", err)
	}
	if last, total, err := db.SnapshotChunk(7, 2); err != nil || total != 3 || len(last) != 20 {
		t.Errorf("last chunk = %d bytes of %d, %v", len(last), total, err)
	}
}

// TestSnapshotReplacedOnlyWhenComplete simulates a crash halfway through
// PutSnapshot: chunks of the new snapshot are durable, its metadata is not.
// The old snapshot must stay the visible one, also across a reopen, until a
// PutSnapshot completes; then the old one and the orphans are gone.
func TestSnapshotReplacedOnlyWhenComplete(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	old, next := pattern(5000, 1), pattern(7000, 2)
	if err := db.PutSnapshot(10, old, 1024); err != nil {
		t.Fatal(err)
	}
	if err := db.putChunks(20, 1, next[:3000], 1024); err != nil { // the "crash"
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, dir)
	defer db.Close()
	if seq, data, err := db.Snapshot(); err != nil || seq != 10 || !bytes.Equal(data, old) {
		t.Fatalf("after partial put: Snapshot = %d, %d bytes, %v; want the old one", seq, len(data), err)
	}
	if _, _, err := db.SnapshotChunk(20, 0); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("incomplete snapshot is servable: %v", err)
	}
	if err := db.PutSnapshot(5, []byte("older"), 0); !errors.Is(err, ErrStaleSnapshot) {
		t.Fatalf("PutSnapshot below the latest: %v, want ErrStaleSnapshot", err)
	}

	if err := db.PutSnapshot(20, next, 1024); err != nil {
		t.Fatal(err)
	}
	if seq, data, err := db.Snapshot(); err != nil || seq != 20 || !bytes.Equal(data, next) {
		t.Fatalf("after put: Snapshot = %d, %d bytes, %v", seq, len(data), err)
	}
	if _, _, err := db.SnapshotChunk(10, 0); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("old snapshot still servable: %v", err)
	}
	if n := countPrefix(t, db, byte(kindSnapshotChunk)); n != 7 {
		t.Fatalf("%d chunk keys stored, want exactly the new snapshot's 7", n)
	}
	// Storing the same snapshot again changes nothing; different data at
	// the same sequence replaces it.
	if err := db.PutSnapshot(20, next, 1024); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSnapshot(20, old, 1024); err != nil {
		t.Fatal(err)
	}
	if seq, data, err := db.Snapshot(); err != nil || seq != 20 || !bytes.Equal(data, old) {
		t.Fatalf("after same-sequence put: Snapshot = %d, %d bytes, %v", seq, len(data), err)
	}
	if n := countPrefix(t, db, byte(kindSnapshotChunk)); n != 5 {
		t.Fatalf("%d chunk keys stored, want 5", n)
	}
}

func countPrefix(t *testing.T, db *DB, prefix byte) int {
	t.Helper()
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
