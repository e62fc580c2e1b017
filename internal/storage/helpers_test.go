package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func openDir(t testing.TB, dir string) *DB {
	t.Helper()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return db
}

// mustFindCorrupt fails unless opening dir reports ErrCorrupt, because of
// what: damage a reopen must refuse, not repair.
func mustFindCorrupt(t testing.TB, dir, what string) {
	t.Helper()
	db, err := Open(Options{Dir: dir})
	if errors.Is(err, ErrCorrupt) {
		return
	}
	if err == nil {
		db.Close()
	}
	t.Fatalf("open with %s: %v, want ErrCorrupt", what, err)
}

// openTemp opens a store in a fresh directory and closes it at test end.
func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db := openDir(t, dir)
	t.Cleanup(func() { _ = db.Close() })
	return db, dir
}

func mustWrite(t testing.TB, db *DB, sync bool, recs ...Record) {
	t.Helper()
	if err := db.Write(recs, sync); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func mustLoad(t testing.TB, db *DB) []Record {
	t.Helper()
	recs, err := db.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return recs
}

func recordsEqual(a, b []Record) error {
	if len(a) != len(b) {
		return fmt.Errorf("got %d records, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Sequence != y.Sequence || x.View != y.View || x.Replica != y.Replica || !bytes.Equal(x.Data, y.Data) {
			return fmt.Errorf("record %d: got %v, want %v", i, brief(x), brief(y))
		}
	}
	return nil
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func brief(r Record) string {
	return fmt.Sprintf("{%v seq=%d view=%d replica=%d data=%dB}", r.Kind, r.Sequence, r.View, r.Replica, len(r.Data))
}

// sortByKey orders records the way Load returns them.
func sortByKey(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		ka, _ := encodeRecord(a)
		kb, _ := encodeRecord(b)
		return bytes.Compare(ka, kb)
	})
}
