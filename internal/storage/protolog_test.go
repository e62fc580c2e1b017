package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// segments lists the protocol log's segment files of a store directory.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, protoLogDir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// nonEmpty is the last segment holding any frame.
func nonEmpty(t *testing.T, dir string) string {
	t.Helper()
	segs := segments(t, dir)
	for i := len(segs) - 1; i >= 0; i-- {
		if fi, err := os.Stat(segs[i]); err == nil && fi.Size() > 0 {
			return segs[i]
		}
	}
	t.Fatal("no segment holds a frame")
	return ""
}

// Records written, overwritten and reopened come back as Badger would give
// them: the last write of each key, in key order; writes without a sync
// are durable once a later write syncs.
func TestProtoLogReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	a := Record{Kind: KindPrePrepare, Sequence: 2, View: 1, Replica: 3, Data: []byte("a")}
	b := Record{Kind: KindPrepare, Sequence: 1, View: 1, Replica: 3, Data: []byte("b")}
	v1 := Record{Kind: KindView, View: 1, Data: []byte("v1")}
	v2 := Record{Kind: KindView, View: 2, Data: []byte("v2")}
	a2 := a
	a2.Data = []byte("a, again")
	mustWrite(t, db, false, a, v1)
	mustWrite(t, db, true, b, v2, a2)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, dir)
	defer db.Close()
	want := []Record{v2, a2, b}
	sortByKey(want)
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatal(err)
	}
	at, err := db.LoadAt(KindPrePrepare, 2)
	if err != nil || len(at) != 1 || string(at[0].Data) != "a, again" {
		t.Fatalf("LoadAt = %v, %v", at, err)
	}
}

// A frame a crash tore (cut short, or with bytes the disk never wrote) at
// the end of the newest segment is dropped with nothing else, and the log
// goes on; the same damage in an older segment is corruption.
func TestProtoLogTornTail(t *testing.T) {
	for _, damage := range []string{"cut", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			db := openDir(t, dir)
			first := Record{Kind: KindPrepare, Sequence: 1, Data: []byte("first")}
			second := Record{Kind: KindPrepare, Sequence: 2, Data: []byte("second")}
			mustWrite(t, db, true, first)
			mustWrite(t, db, true, second)
			must(t, db.Close())
			seg := nonEmpty(t, dir)
			data, err := os.ReadFile(seg)
			must(t, err)
			if damage == "cut" {
				data = data[:len(data)-3]
			} else {
				data[len(data)-2] ^= 0x40
			}
			must(t, os.WriteFile(seg, data, 0o600))

			db = openDir(t, dir)
			if err := recordsEqual(mustLoad(t, db), []Record{first}); err != nil {
				t.Fatalf("after the torn write: %v", err)
			}
			third := Record{Kind: KindPrepare, Sequence: 3, Data: []byte("third")}
			mustWrite(t, db, true, third)
			must(t, db.Close())
			db = openDir(t, dir)
			if err := recordsEqual(mustLoad(t, db), []Record{first, third}); err != nil {
				t.Fatalf("after writing on: %v", err)
			}
			must(t, db.Close())

			// The damaged segment is no longer the newest: damage there is
			// corruption, not a torn write.
			data, err = os.ReadFile(seg)
			must(t, err)
			data[len(data)-2] ^= 0x40
			must(t, os.WriteFile(seg, data, 0o600))
			mustFindCorrupt(t, dir, "an older segment damaged")
		})
	}
}

// Checkpoint after checkpoint, the log keeps the records above the last
// deletion and the view record written before the first, across reopens,
// in a bounded number of segments.
func TestProtoLogDeletionBoundsSegments(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	view := Record{Kind: KindView, View: 7, Data: []byte("view")}
	mustWrite(t, db, true, view)
	const interval = 8
	for c := uint64(1); c <= 40; c++ {
		for s := (c - 1) * interval; s < (c+1)*interval; s++ { // the window runs ahead of the checkpoint
			mustWrite(t, db, s%3 == 0, Record{Kind: KindPrePrepare, Sequence: s, View: c, Data: pattern(100, byte(s))})
		}
		must(t, db.DeleteBelow(c*interval))
		if n := len(segments(t, dir)); n > 3 {
			t.Fatalf("checkpoint %d: %d segments", c, n)
		}
		if c%10 == 0 {
			must(t, db.Close())
			db = openDir(t, dir)
		}
		recs := mustLoad(t, db)
		if recs[0].Kind != KindView || string(recs[0].Data) != "view" {
			t.Fatalf("checkpoint %d: the view record is gone: %v", c, recs[0])
		}
		for _, r := range recs[1:] {
			if r.Sequence < c*interval {
				t.Fatalf("checkpoint %d: record %d survived its deletion", c, r.Sequence)
			}
		}
		if len(recs) != 1+interval {
			t.Fatalf("checkpoint %d: %d records, want the view and %d above the checkpoint", c, len(recs), interval)
		}
	}
	must(t, db.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
