package storage

import "testing"

func TestDeleteBelow(t *testing.T) {
	db, _ := openTemp(t)
	var recs []Record
	for s := uint64(1); s <= 20; s++ {
		for k := KindPrePrepare; k.writable(); k++ {
			recs = append(recs, Record{Kind: k, Sequence: s, View: s % 3, Replica: 1, Data: pattern(int(s)*100, byte(k))})
		}
	}
	view := Record{Kind: KindView, Sequence: 0, View: 4, Replica: 1, Data: []byte("v")}
	mustWrite(t, db, true, append(recs, view)...)
	if err := db.PutSnapshot(5, []byte("state@5"), 3); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSnapshot(10, []byte("state@10"), 3); err != nil {
		t.Fatal(err)
	}

	if err := db.DeleteBelow(11); err != nil {
		t.Fatal(err)
	}
	want := []Record{view}
	for _, r := range recs {
		if r.Sequence >= 11 {
			want = append(want, r)
		}
	}
	sortByKey(want)
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatal(err)
	}
	// The latest complete snapshot survives even though it is below 11: the
	// remaining log is replayed on it.
	if seq, data, err := db.Snapshot(); err != nil || seq != 10 || string(data) != "state@10" {
		t.Fatalf("Snapshot after DeleteBelow = %d %q %v", seq, data, err)
	}

	// Deleting everything still keeps the view.
	if err := db.DeleteBelow(1 << 62); err != nil {
		t.Fatal(err)
	}
	if err := recordsEqual(mustLoad(t, db), []Record{view}); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteBelowManyBatches deletes more keys than one deletion batch.
func TestDeleteBelowManyBatches(t *testing.T) {
	db, _ := openTemp(t)
	const n = 3*deleteBatch + 17
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Kind: KindPrepare, Sequence: uint64(i), Replica: 2}
	}
	mustWrite(t, db, false, recs...)
	if err := db.DeleteBelow(n - 5); err != nil {
		t.Fatal(err)
	}
	if err := recordsEqual(mustLoad(t, db), recs[n-5:]); err != nil {
		t.Fatal(err)
	}
}
