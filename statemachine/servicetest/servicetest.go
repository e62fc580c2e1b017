// Package servicetest is a conformance suite for statemachine.Service
// implementations. A service's own tests call Run with a constructor and an
// op generator; the suite checks the properties the replica relies on.
//
// The suite assumes snapshots are self-delimiting: no proper prefix of a
// valid snapshot, and no valid snapshot with a byte appended, is itself valid.
// Services that cannot promise that cannot detect truncated state transfers.
package servicetest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
)

const (
	numBatches = 40
	maxBatch   = 16
)

// Run runs the conformance suite. newService must return a fresh instance in
// its initial state on every call. genOps returns one well-formed op drawn
// from r; the suite derives malformed ops from it. Generators that reuse a
// small key space exercise overwrites and conditional ops best.
func Run(t *testing.T, newService func() statemachine.Service, genOps func(r *rand.Rand) []byte) {
	t.Helper()
	s := suite{newService: newService, genOps: genOps}
	t.Run("OneResultPerOp", s.oneResultPerOp)
	t.Run("Determinism", s.determinism)
	t.Run("ApplyDoesNotRetainOps", s.applyDoesNotRetainOps)
	t.Run("QueryDoesNotMutate", s.queryDoesNotMutate)
	t.Run("SnapshotDeterministic", s.snapshotDeterministic)
	t.Run("SnapshotRoundTrip", s.snapshotRoundTrip)
	t.Run("RestoreReplacesState", s.restoreReplacesState)
	t.Run("RestoreRejectsCorrupt", s.restoreRejectsCorrupt)
	t.Run("MalformedOps", s.malformedOps)
	t.Run("AdmitIsDeterministic", s.admitIsDeterministic)
	t.Run("RefusedOpsChangeNothing", s.refusedOpsChangeNothing)
}

type suite struct {
	newService func() statemachine.Service
	genOps     func(r *rand.Rand) []byte
}

// newRand returns a deterministic source so failures reproduce.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// batches generates n batches of 0..maxBatch well-formed ops. Empty batches
// are included on purpose: the replica applies them (e.g. null requests after
// a view change).
func (s suite) batches(seed uint64, n int) [][][]byte {
	r := newRand(seed)
	out := make([][][]byte, n)
	for i := range out {
		batch := make([][]byte, r.IntN(maxBatch+1))
		for j := range batch {
			batch[j] = s.genOps(r)
		}
		out[i] = batch
	}
	return out
}

// cloneBatch deep-copies ops so no two instances share op buffers.
func cloneBatch(ops [][]byte) [][]byte {
	out := make([][]byte, len(ops))
	for i, op := range ops {
		out[i] = bytes.Clone(op)
	}
	return out
}

// clients are the client keys the suite's operations come from, in turn:
// services that authorise by sender see several.
var clients = [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)}

// ClientKeys returns (copies of) the client keys the suite's operations
// come from: Apply's i-th op of a batch is sent by ClientKeys()[i%3]. A
// generator of a service that authorises by sender can name them, so that
// some of its operations are ones their sender may issue (an owner debiting
// its own account) and others are not.
func ClientKeys() [][]byte {
	out := make([][]byte, len(clients))
	for i, c := range clients {
		out[i] = bytes.Clone(c)
	}
	return out
}

func clientOf(i int) []byte { return clients[i%len(clients)] }

// apply applies a batch, the ops from the suite's clients in turn, and
// checks there is exactly one result per op.
func apply(t *testing.T, svc statemachine.Service, seq uint64, data [][]byte) [][]byte {
	t.Helper()
	ops := make([]statemachine.Op, len(data))
	for i, d := range data {
		ops[i] = statemachine.Op{Client: bytes.Clone(clientOf(i)), Session: uint64(i % 2), Data: d}
	}
	res := svc.Apply(seq, ops)
	if len(res) != len(ops) {
		t.Fatalf("Apply(seq %d): %d results for %d ops", seq, len(res), len(ops))
	}
	return res
}

// applyAll applies batches with sequence numbers starting at firstSeq.
func applyAll(t *testing.T, svc statemachine.Service, firstSeq uint64, batches [][][]byte) {
	t.Helper()
	for i, b := range batches {
		apply(t, svc, firstSeq+uint64(i), cloneBatch(b))
	}
}

// fingerprint captures everything observable about a service's state: its
// canonical snapshot, whose hash checkpoints certify.
type fingerprint struct {
	snap []byte
}

func fingerprintOf(t *testing.T, svc statemachine.Service) fingerprint {
	t.Helper()
	snap, err := svc.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return fingerprint{snap: snap}
}

func sameState(t *testing.T, what string, got, want fingerprint) {
	t.Helper()
	if !bytes.Equal(got.snap, want.snap) {
		t.Fatalf("%s: snapshots differ (%d vs %d bytes)", what, len(got.snap), len(want.snap))
	}
}

// sameResults checks two Apply outputs are identical.
func sameResults(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results vs %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: result %d differs: %x vs %x", what, i, got[i], want[i])
		}
	}
}
