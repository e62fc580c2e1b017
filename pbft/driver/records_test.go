package driver

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/storage"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func openStore(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testPrePrepare(seq, view uint64, op string) *wire.PrePrepare {
	return &wire.PrePrepare{View: view, Sequence: seq, Digest: []byte(strings.Repeat(op, 32)[:32]),
		Requests: []*wire.Request{{ClientKey: []byte("c"), Timestamp: seq, Operation: []byte(op)}}}
}

// A committed batch whose pre-prepare the store holds is written as a
// reference to it (its requests once, not twice) and loads back whole; one
// whose pre-prepare it does not hold is written in full.
func TestCommittedBatchRefersToItsStoredPrePrepare(t *testing.T) {
	db := openStore(t)
	pps := stored{}
	held := testPrePrepare(5, 1, "a")
	notHeld := testPrePrepare(6, 1, "b") // say, re-issued in a NEW-VIEW
	rd := pbft.Ready{
		Persist:  []*wire.Message{{Content: &wire.Message_PrePrepare{PrePrepare: held}}},
		Executed: []pbft.Executed{{Sequence: 5, View: 1, PrePrepare: held}, {Sequence: 6, View: 1, PrePrepare: notHeld}},
	}
	recs, err := recordsOf(2, rd, pps)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind != storage.KindCommitted {
			continue
		}
		full := len(r.Data) > 0 && r.Data[0] != committedRef
		if r.Sequence == 5 && full || r.Sequence == 6 && !full {
			t.Fatalf("committed batch %d stored in full = %v", r.Sequence, full)
		}
	}
	if err := db.Write(recs, true); err != nil {
		t.Fatal(err)
	}
	d, again, err := load(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Committed) != 2 || !proto.Equal(d.Committed[0], held) || !proto.Equal(d.Committed[1], notHeld) {
		t.Fatalf("loaded committed batches %v", d.Committed)
	}
	if again[5].view != 1 || again[5].digest != string(held.GetDigest()) {
		t.Fatalf("reloaded index %v", again)
	}
}

// A reference whose pre-prepare is gone is an error above the stable
// checkpoint, and is skipped below it (deletion below a checkpoint is not
// atomic, and the snapshot covers what lies below).
func TestDanglingCommittedReference(t *testing.T) {
	ref := func(seq uint64) storage.Record {
		return storage.Record{Kind: storage.KindCommitted, Sequence: seq, View: 1,
			Data: append([]byte{committedRef}, testPrePrepare(seq, 1, "a").GetDigest()...)}
	}
	db := openStore(t)
	if err := db.Write([]storage.Record{ref(9)}, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(db); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("load with a dangling reference above the checkpoint: %v", err)
	}
	snap, err := proto.Marshal(&wire.StateSnapshot{Sequence: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutSnapshot(10, snap, 1<<10); err != nil {
		t.Fatal(err)
	}
	if d, _, err := load(db); err != nil || len(d.Committed) != 0 {
		t.Fatalf("load with a dangling reference below the checkpoint: %v, %v", d.Committed, err)
	}
}
