package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestReopenKeepsSyncedData(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	recs := []Record{
		{Kind: KindView, View: 2, Replica: 1, Data: []byte{}},
		{Kind: KindPrePrepare, Sequence: 5, View: 2, Data: pattern(3000, 9)},
		{Kind: KindCommit, Sequence: 5, View: 2, Replica: 1, Data: []byte("c")},
	}
	mustWrite(t, db, true, recs...)
	snap := pattern(4096, 5)
	if err := db.PutSnapshot(4, snap, 1000); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDir(t, dir)
	defer db.Close()
	if err := recordsEqual(mustLoad(t, db), recs); err != nil {
		t.Fatal(err)
	}
	if seq, data, err := db.Snapshot(); err != nil || seq != 4 || !bytes.Equal(data, snap) {
		t.Fatalf("Snapshot after reopen = %d, %d bytes, %v", seq, len(data), err)
	}
}

func TestOpenOnFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(Options{Dir: path})
	if err == nil {
		db.Close()
		t.Fatal("Open on a regular file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("error %q does not name the path and the problem", err)
	}
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

func TestOpenTwiceIsLocked(t *testing.T) {
	_, dir := openTemp(t)
	db, err := Open(Options{Dir: dir})
	if err == nil {
		db.Close()
		t.Fatal("second Open of a live directory succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory", err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	goleak.VerifyNone(t) // nothing left over from earlier tests either
	db := openDir(t, t.TempDir())
	mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 1, Data: pattern(2000, 1)})
	if err := db.PutSnapshot(1, pattern(5000, 2), 1000); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteBelow(2); err != nil {
		t.Fatal(err)
	}
	if err := db.RunGC(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}
