package storage

import (
	"errors"
	"sync"
	"testing"
)

func TestWriteLoadKeyOrder(t *testing.T) {
	db, _ := openTemp(t)
	// Written out of order; Load must return (kind, sequence, view, replica)
	// order, numerically (big-endian keys), not insertion order.
	in := []Record{
		{Kind: KindCommit, Sequence: 2, View: 0, Replica: 1, Data: []byte("c2")},
		{Kind: KindPrePrepare, Sequence: 256, View: 1, Replica: 0, Data: []byte("pp256")},
		{Kind: KindPrePrepare, Sequence: 1, View: 3, Replica: 0, Data: []byte("pp1v3")},
		{Kind: KindPrePrepare, Sequence: 1, View: 2, Replica: 0, Data: []byte("pp1v2")},
		{Kind: KindPrepare, Sequence: 1, View: 0, Replica: 3, Data: []byte("p1r3")},
		{Kind: KindPrepare, Sequence: 1, View: 0, Replica: 300, Data: []byte("p1r300")},
		{Kind: KindCommitted, Sequence: 1, Data: pattern(5000, 1)}, // value-log sized
		{Kind: KindView, View: 7, Replica: 2, Data: []byte("view")},
		{Kind: KindCheckpointCert, Sequence: 10, Data: []byte("cp")},
		{Kind: KindPreparedCert, Sequence: 1, View: 1, Data: nil},
	}
	mustWrite(t, db, true, in[:5]...)
	mustWrite(t, db, false, in[5:]...)
	want := []Record{in[7], in[3], in[2], in[1], in[4], in[5], in[0], in[9], in[6], in[8]}
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatal(err)
	}
}

func TestViewIsOneRecord(t *testing.T) {
	db, _ := openTemp(t)
	for v := uint64(1); v <= 3; v++ {
		mustWrite(t, db, true, Record{Kind: KindView, View: v, Replica: 1})
	}
	want := []Record{{Kind: KindView, View: 3, Replica: 1, Data: []byte{}}}
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRejectsSnapshotKinds(t *testing.T) {
	db, _ := openTemp(t)
	for _, k := range []Kind{0, KindSnapshotMeta, kindSnapshotChunk, 99} {
		err := db.Write([]Record{{Kind: KindPrepare, Sequence: 1}, {Kind: k, Sequence: 1}}, true)
		if !errors.Is(err, ErrKind) {
			t.Errorf("Write kind %v: err %v, want ErrKind", k, err)
		}
	}
	// The whole batch was refused, including its valid first record.
	if recs := mustLoad(t, db); len(recs) != 0 {
		t.Fatalf("rejected batch left %d records", len(recs))
	}
}

// TestWriteAtomic loads while batches are being written: a reader must see
// each batch entirely or not at all.
func TestWriteAtomic(t *testing.T) {
	db, _ := openTemp(t)
	const perBatch = 40
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		for s := range uint64(200) {
			recs := make([]Record, perBatch)
			for r := range recs {
				recs[r] = Record{Kind: KindCommit, Sequence: s, Replica: uint32(r)}
			}
			if err := db.Write(recs, false); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
		}
	})
	for loads := 0; ; loads++ {
		select {
		case <-stop:
			wg.Wait()
			if loads == 0 {
				t.Log("writer finished before any concurrent load")
			}
			return
		default:
		}
		count := map[uint64]int{}
		for _, r := range mustLoad(t, db) {
			count[r.Sequence]++
		}
		for s, n := range count {
			if n != perBatch {
				t.Fatalf("sequence %d: saw %d of %d records of one batch", s, n, perBatch)
			}
		}
	}
}

// TestWriteHugeBatch writes more records than fit one Badger transaction;
// Write splits it and every record lands.
func TestWriteHugeBatch(t *testing.T) {
	db, _ := openTemp(t)
	recs := make([]Record, 60000)
	for i := range recs {
		recs[i] = Record{Kind: KindCommitted, Sequence: uint64(i), Data: []byte{byte(i)}}
	}
	mustWrite(t, db, true, recs...)
	if err := recordsEqual(mustLoad(t, db), recs); err != nil {
		t.Fatal(err)
	}
}

func TestClosedErrors(t *testing.T) {
	db, _ := openTemp(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Write([]Record{{Kind: KindPrepare}}, true); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := db.Load(); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
	if _, _, err := db.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
}

func TestInMemory(t *testing.T) {
	db, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 1})
	if err := db.PutSnapshot(1, []byte("s"), 0); err != nil {
		t.Fatal(err)
	}
	if err := db.RunGC(t.Context()); err != nil {
		t.Fatalf("RunGC in memory: %v", err)
	}
	if n := len(mustLoad(t, db)); n != 1 {
		t.Fatalf("loaded %d records", n)
	}
}
