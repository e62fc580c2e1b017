package pbft

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// WorstCaseSizes computes sizes without building the largest messages; the
// arithmetic must match the real encodings exactly.
func TestWorstCaseSizesMatchRealMessages(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	cfg := c.reps[0].cfg
	cfg.MaxOperationSize, cfg.MaxBatchBytes, cfg.MaxBatchSize, cfg.StateChunkSize = 300, 1000, 16, 500
	got := WorstCaseSizes(cfg)

	sig := make([]byte, crypto.SignatureSize)
	var reqs []*wire.Request
	for used := 0; len(reqs) < cfg.MaxBatchSize; {
		op := min(cfg.MaxOperationSize, cfg.MaxBatchBytes-used-maxRequestSize(0))
		if op < 0 {
			break
		}
		req := &wire.Request{ClientKey: make([]byte, 32), Session: math.MaxUint64, Timestamp: math.MaxUint64,
			Operation: make([]byte, op), ReadOnly: true, Signature: sig}
		used += proto.Size(req)
		reqs = append(reqs, req)
	}
	if n := batchBytes(reqs); n > cfg.MaxBatchBytes {
		t.Fatalf("the largest batch has %d bytes, above the limit %d", n, cfg.MaxBatchBytes)
	}
	pp := &wire.PrePrepare{View: math.MaxUint64, Sequence: math.MaxUint64, Digest: make([]byte, 32), Requests: reqs,
		Replica: math.MaxUint32, Signature: sig}
	if want := proto.Size(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}); got.PrePrepare != want {
		t.Errorf("largest pre-prepare: computed %d, encoded %d", got.PrePrepare, want)
	}
	batch := &wire.Batch{Sequence: math.MaxUint64, Digest: make([]byte, 32), Requests: reqs, Replica: math.MaxUint32}
	if want := proto.Size(&wire.Message{Content: &wire.Message_Batch{Batch: batch}}); got.Batch != want {
		t.Errorf("largest batch answer: computed %d, encoded %d", got.Batch, want)
	}
	cp := &wire.Checkpoint{Sequence: math.MaxUint64, StateDigest: make([]byte, 32), Replica: math.MaxUint32, Signature: sig}
	proof := make([][]byte, 64)
	for i := range proof {
		proof[i] = make([]byte, 32)
	}
	chunk := &wire.StateChunk{Sequence: math.MaxUint64, Chunk: math.MaxUint32, Chunks: math.MaxUint32, Data: make([]byte, 500),
		Certificate: []*wire.Checkpoint{cp, cp, cp, cp}, Replica: math.MaxUint32, Root: make([]byte, 32), Size: math.MaxUint64, Proof: proof}
	if want := proto.Size(&wire.Message{Content: &wire.Message_StateChunk{StateChunk: chunk}}); got.StateChunk != want {
		t.Errorf("largest state chunk: computed %d, encoded %d", got.StateChunk, want)
	}
	// The largest VIEW-CHANGE (a full window of certificates) and NEW-VIEW
	// (n of them, and a window of re-issued pre-prepares), encoded.
	header := &wire.PrePrepare{View: math.MaxUint64, Sequence: math.MaxUint64, Digest: make([]byte, 32), Replica: math.MaxUint32, Signature: sig}
	prep := &wire.Prepare{View: math.MaxUint64, Sequence: math.MaxUint64, Digest: make([]byte, 32), Replica: math.MaxUint32, Signature: sig}
	cert := &wire.PreparedCertificate{PrePrepare: header, Prepares: []*wire.Prepare{prep, prep}}
	vc := &wire.ViewChange{NewView: math.MaxUint64, StableSequence: math.MaxUint64, CheckpointProof: []*wire.Checkpoint{cp, cp, cp, cp},
		Replica: math.MaxUint32, Signature: sig}
	for range cfg.WindowSize {
		vc.Prepared = append(vc.Prepared, cert)
	}
	nv := &wire.NewView{View: math.MaxUint64, ViewChanges: []*wire.ViewChange{vc, vc, vc, vc}, Replica: math.MaxUint32, Signature: sig}
	for range cfg.WindowSize {
		nv.PrePrepares = append(nv.PrePrepares, header)
	}
	// A VIEW-CHANGE carries up to f+1 signed suspicions; a NEW-VIEW's copies
	// none.
	susp := &wire.Suspicion{View: math.MaxUint64, Replica: math.MaxUint32, Signature: sig}
	vcSent := proto.Clone(vc).(*wire.ViewChange)
	vcSent.Suspicions = []*wire.Suspicion{susp, susp}
	if want := proto.Size(&wire.Message{Content: &wire.Message_ViewChange{ViewChange: vcSent}}); got.ViewChange != want {
		t.Errorf("largest view change: computed %d, encoded %d", got.ViewChange, want)
	}
	if want := proto.Size(&wire.Message{Content: &wire.Message_NewView{NewView: nv}}); got.NewView != want {
		t.Errorf("largest new view: computed %d, encoded %d", got.NewView, want)
	}
}

// A configuration under which a message could outgrow the transport is
// refused at start, naming what to change.
func TestConfigRefusesMessagesBeyondTheFrame(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	for _, tc := range []struct {
		tune func(*Config)
		want string
	}{
		{func(cfg *Config) { cfg.MaxBatchBytes, cfg.MaxBatchSize = 32<<20, 128 }, "largest pre-prepare"},
		{func(cfg *Config) { cfg.CheckpointInterval, cfg.WindowSize = 1<<15, 1<<16 }, "largest view change"},
		{func(cfg *Config) { cfg.StateChunkSize = 17 << 20 }, "largest state chunk"},
		{func(cfg *Config) { cfg.MaxOperationSize, cfg.MaxBatchBytes = 1<<20, 1<<19 }, "cannot hold one request"},
	} {
		cfg := c.reps[0].cfg
		tc.tune(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error containing %q, got %v", tc.want, err)
		}
	}
	if _, err := New(c.reps[0].cfg); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
}
