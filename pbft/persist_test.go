package pbft

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

func testPrePrepare(seq, view uint64, op string) *wire.PrePrepare {
	return &wire.PrePrepare{View: view, Sequence: seq, Digest: []byte(strings.Repeat(op, 32)[:32]),
		Requests: []*wire.Request{{ClientKey: []byte("c"), Timestamp: seq, Operation: []byte(op)}}}
}

func ppMessage(pp *wire.PrePrepare) *wire.Message {
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}
}

func openPersister(t *testing.T, store Storage) (*Persister, Durable) {
	t.Helper()
	p, d, err := OpenPersister(store, 2)
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

// A committed batch whose pre-prepare the store holds is written as a
// reference to it (its requests once, not twice) and loads back whole; one
// whose pre-prepare it does not hold is written in full.
func TestCommittedBatchRefersToItsStoredPrePrepare(t *testing.T) {
	store := NewMemStore()
	p, _ := openPersister(t, store)
	held := testPrePrepare(5, 1, "a")
	notHeld := testPrePrepare(6, 1, "b") // say, re-issued in a NEW-VIEW
	must(t, p.Persist(Ready{
		Persist:  []*wire.Message{ppMessage(held)},
		Executed: []Executed{{Sequence: 5, View: 1, PrePrepare: held}, {Sequence: 6, View: 1, PrePrepare: notHeld}},
	}))
	recs, err := store.Load()
	must(t, err)
	for _, r := range recs {
		full := len(r.Data) > 0 && r.Data[0] != committedRef
		if r.Kind == RecordCommitted && (r.Sequence == 5 && full || r.Sequence == 6 && !full) {
			t.Fatalf("committed batch %d stored in full = %v", r.Sequence, full)
		}
	}
	again, d := openPersister(t, store)
	if len(d.Committed) != 2 || !proto.Equal(d.Committed[0], held) || !proto.Equal(d.Committed[1], notHeld) {
		t.Fatalf("loaded committed batches %v", d.Committed)
	}
	if again.pps[5].view != 1 || again.pps[5].digest != string(held.GetDigest()) {
		t.Fatalf("reloaded index %v", again.pps)
	}
}

// A reference whose pre-prepare is gone is an error above the low watermark,
// and is skipped below it (deletion below a checkpoint is not atomic, and
// the snapshot covers what lies below).
func TestDanglingCommittedReference(t *testing.T) {
	store := NewMemStore()
	ref := Record{Kind: RecordCommitted, Sequence: 9, View: 1,
		Data: append([]byte{committedRef}, testPrePrepare(9, 1, "a").GetDigest()...)}
	must(t, store.Write([]Record{ref}, true))
	if _, _, err := OpenPersister(store, 2); !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("load with a dangling reference above the checkpoint: %v", err)
	}
	snap, err := proto.Marshal(&wire.StateSnapshot{Sequence: 10})
	must(t, err)
	must(t, store.PutSnapshot(10, snap))
	if _, d := openPersister(t, store); len(d.Committed) != 0 {
		t.Fatalf("load with a dangling reference below the checkpoint: %v", d.Committed)
	}
}

// What a Ready binds the replica to survives a crash right after Persist;
// committed batches written alone, without a sync, may not.
func TestPersistSyncsWhatBindsAndOnlyThat(t *testing.T) {
	store := NewMemStore()
	p, _ := openPersister(t, store)
	pp := testPrePrepare(1, 0, "a")
	prepare := &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{View: 0, Sequence: 1, Digest: pp.GetDigest(), Replica: 2}}}
	must(t, p.Persist(Ready{Persist: []*wire.Message{ppMessage(pp), prepare}, View: &ViewState{View: 0}}))
	must(t, p.Persist(Ready{Executed: []Executed{{Sequence: 1, PrePrepare: pp}}}))
	if !store.Pending() {
		t.Fatal("a committed batch alone was synced: peers can resend it, it need not cost a sync")
	}
	store.Crash()
	_, d := openPersister(t, store)
	if len(d.Log) != 2 || len(d.Committed) != 0 {
		t.Fatalf("after a crash: %d log records (want the pre-prepare and prepare), %d committed (want 0: not synced)", len(d.Log), len(d.Committed))
	}
	// A later binding write syncs the committed batch with it.
	p, _ = openPersister(t, store)
	must(t, p.Persist(Ready{Executed: []Executed{{Sequence: 1, PrePrepare: pp}}}))
	must(t, p.Persist(Ready{View: &ViewState{View: 1, Changing: true}}))
	store.Crash()
	if _, d = openPersister(t, store); len(d.Committed) != 1 || d.View != 1 || !d.ViewChanging {
		t.Fatalf("after a crash: %d committed, view %d changing=%v", len(d.Committed), d.View, d.ViewChanging)
	}
}

// A low watermark adopted without its state is durable, survives the
// deletion of the log below it, and yields to a stable checkpoint above it.
// A primary's NEW-VIEW is kept with its view.
func TestPersistLowWatermarkAndNewView(t *testing.T) {
	store := NewMemStore()
	p, _ := openPersister(t, store)
	below, above := testPrePrepare(7, 0, "a"), testPrePrepare(9, 1, "b")
	must(t, p.Persist(Ready{Persist: []*wire.Message{ppMessage(below)}}))
	nv := &wire.NewView{View: 1, Replica: 1, PrePrepares: []*wire.PrePrepare{above}}
	low := &wire.StableProof{Sequence: 8, Certificate: []*wire.Checkpoint{{Sequence: 8, Replica: 0}}}
	must(t, p.Persist(Ready{Persist: []*wire.Message{ppMessage(above)}, Low: low, View: &ViewState{View: 1, NewView: nv}}))
	store.Crash()
	_, d := openPersister(t, store)
	switch {
	case !proto.Equal(d.Low, low):
		t.Fatalf("low watermark after a crash: %v", d.Low)
	case len(d.Log) != 1 || d.Log[0].GetPrePrepare().GetSequence() != 9:
		t.Fatalf("log after a crash: %v (want only s=9: s=7 lies below the watermark)", d.Log)
	case !proto.Equal(d.NewView, nv):
		t.Fatalf("new view after a crash: %v", d.NewView)
	}
	p, _ = openPersister(t, store)
	must(t, p.Persist(Ready{Stable: &wire.StateSnapshot{Sequence: 16}}))
	if _, d = openPersister(t, store); d.Low != nil || d.Stable.GetSequence() != 16 || len(d.Log) != 0 {
		t.Fatalf("after a stable checkpoint above it: low %v, stable %d, %d log records", d.Low, d.Stable.GetSequence(), len(d.Log))
	}
}

// A state installed by a transfer is what a restart starts from, even when
// no stable checkpoint came with it.
func TestPersistRestoredState(t *testing.T) {
	store := NewMemStore()
	p, _ := openPersister(t, store)
	must(t, p.Persist(Ready{Restored: &wire.StateSnapshot{Sequence: 12, Replica: 3}}))
	store.Crash()
	if _, d := openPersister(t, store); d.Stable.GetSequence() != 12 {
		t.Fatalf("after a crash the state is at %d, want 12", d.Stable.GetSequence())
	}
}

// A crash inside Persist (the store loses power after some of its writes)
// reports ErrPowerLoss and leaves a store that still loads.
func TestPersistTornByPowerLoss(t *testing.T) {
	for n := range 3 {
		store := NewMemStore()
		p, _ := openPersister(t, store)
		store.FailAfter(n)
		err := p.Persist(Ready{
			Persist:  []*wire.Message{ppMessage(testPrePrepare(17, 0, "a"))},
			Stable:   &wire.StateSnapshot{Sequence: 16},
			Executed: []Executed{{Sequence: 16, PrePrepare: testPrePrepare(16, 0, "b")}},
		})
		if n < 3 && !errors.Is(err, ErrPowerLoss) {
			t.Fatalf("power lost after %d operations: %v", n, err)
		}
		store.Crash()
		_, d := openPersister(t, store)
		if n == 0 && (len(d.Log) != 0 || d.Stable != nil) {
			t.Fatalf("power lost before the first write, yet the store holds %v", d)
		}
	}
}

// A data directory written by a version that kept whole batches in its
// prepared certificates does not wedge the replica: after a restart its
// VIEW-CHANGE carries digests only and fits a frame, however large the
// batches were (here 20 requests of 1 MB).
func TestOldFormatCertificateFitsAFrameAfterRestart(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.MaxBatchSize = 32 })
	var reqs []*wire.Request
	for range 20 {
		reqs = append(reqs, c.request(make([]byte, 1<<20-200)))
	}
	pp := c.prePrepareAt(1, reqs...)
	prepares := []*wire.Prepare{c.signedPrepare(1, 0, 1, pp.GetDigest()).GetPrepare(), c.signedPrepare(2, 0, 1, pp.GetDigest()).GetPrepare()}
	oldCert, err := proto.Marshal(&wire.PreparedCertificate{PrePrepare: pp, Prepares: prepares})
	must(t, err)
	ppRecord, err := proto.Marshal(ppMessage(pp))
	must(t, err)
	store := NewMemStore()
	must(t, store.Write([]Record{
		{Kind: RecordPrePrepare, Sequence: 1, View: 0, Replica: 3, Data: ppRecord},
		{Kind: RecordPrepared, Sequence: 1, View: 0, Replica: 3, Data: oldCert},
	}, true))
	if len(oldCert) <= DefaultMaxMessageSize {
		t.Fatalf("setup: the old certificate has %d bytes, not more than a frame", len(oldCert))
	}
	_, d, err := OpenPersister(store, 3)
	must(t, err)
	cfg := c.reps[3].cfg
	cfg.Service = kv.New()
	r, err := Restart(cfg, d)
	must(t, err)
	r.startViewChange(1)
	for _, env := range r.Ready().Messages {
		if vc := env.Msg.GetViewChange(); vc != nil {
			if len(vc.GetPrepared()) != 1 {
				t.Fatalf("the view change lost the prepared certificate: %v", vc.GetPrepared())
			}
			if size := proto.Size(env.Msg); size > 64<<10 {
				t.Fatalf("the view change has %d bytes: it still carries the batch", size)
			}
			return
		}
	}
	t.Fatal("no view change sent")
}

// PersistAll writes consecutive Readys in one synced write, as durable as
// Persist one by one would leave them, and a Ready with a state or a low
// watermark apart, in its turn: the log below the state goes, what came
// after it stays.
func TestPersistAllGroupsReadys(t *testing.T) {
	store := NewMemStore()
	p, _ := openPersister(t, store)
	pp1, pp2, pp3 := testPrePrepare(1, 0, "a"), testPrePrepare(2, 0, "b"), testPrePrepare(9, 0, "c")
	prepare := &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{View: 0, Sequence: 1, Digest: pp1.GetDigest(), Replica: 2}}}
	before := store.Operations()
	must(t, p.PersistAll([]Ready{
		{Persist: []*wire.Message{ppMessage(pp1)}, View: &ViewState{View: 0}},
		{Persist: []*wire.Message{prepare}},
		{Executed: []Executed{{Sequence: 1, PrePrepare: pp1}}},
		{Persist: []*wire.Message{ppMessage(pp2)}},
	}))
	if ops := store.Operations() - before; ops != 1 {
		t.Fatalf("four Readys took %d store operations, want one write", ops)
	}
	store.Crash()
	p, d := openPersister(t, store)
	if len(d.Log) != 3 || len(d.Committed) != 1 {
		t.Fatalf("after a crash: %d log records (want 3), %d committed (want 1: synced with the group)", len(d.Log), len(d.Committed))
	}
	before = store.Operations()
	must(t, p.PersistAll([]Ready{
		{Persist: []*wire.Message{ppMessage(testPrePrepare(3, 0, "d"))}},
		{Stable: &wire.StateSnapshot{Sequence: 8}},
		{Persist: []*wire.Message{ppMessage(pp3)}},
	}))
	if ops := store.Operations() - before; ops != 4 {
		t.Fatalf("a group around a stable checkpoint took %d store operations, want 4 (write, snapshot, deletion, write)", ops)
	}
	store.Crash()
	_, d = openPersister(t, store)
	if len(d.Log) != 1 || d.Log[0].GetPrePrepare().GetSequence() != 9 || d.Stable.GetSequence() != 8 {
		t.Fatalf("after the checkpoint: log %v, snapshot at %d", d.Log, d.Stable.GetSequence())
	}
}
