package kv

import (
	"bytes"
	"crypto/sha256"
	"github.com/bulwark-bft/bulwark/statemachine"
	"testing"
)

// FuzzDecodeOp checks DecodeOp never panics, accepts only canonical
// encodings, and agrees with IsReadOnly.
func FuzzDecodeOp(f *testing.F) {
	for _, seed := range [][]byte{
		nil, {0}, {0xff, 0xff, 0xff, 0xff, 0xff},
		EncodePut([]byte("k"), []byte("v")),
		EncodeGet([]byte("k")),
		EncodeDelete(nil),
		EncodeCAS([]byte("k"), nil, []byte("n")),
		append(EncodeGet([]byte("k")), 0),
		{byte(OpPut), 0, 0, 0, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := DecodeOp(b)
		if IsReadOnly(b) != (err == nil && op.Kind == OpGet) {
			t.Fatal("IsReadOnly disagrees with DecodeOp")
		}
		if err != nil {
			return
		}
		if !bytes.Equal(reencode(op), b) {
			t.Fatalf("accepted non-canonical encoding %x", b)
		}
		if len(op.Key) > MaxKeySize || len(op.Value) > MaxValueSize || len(op.Old) > MaxValueSize {
			t.Fatal("accepted op over limits")
		}
		// Applying must give exactly one decodable result.
		r := decodeOne(t, New().Apply(1, statemachine.Anonymous(b)))
		if r.Status == StatusError {
			t.Fatalf("well-formed op got error result %q", r.Err)
		}
	})
}

// FuzzRestore checks Restore never panics, leaves the state alone on error,
// and accepts only canonical snapshots.
func FuzzRestore(f *testing.F) {
	seeds := []*Store{
		New(),
		applyOps(New(), EncodePut([]byte("a"), []byte("1"))),
		applyOps(New(), EncodePut([]byte("a"), nil), EncodePut([]byte("b"), []byte("22")), EncodePut(nil, []byte("e"))),
	}
	for _, s := range seeds {
		snap, _ := s.Snapshot()
		f.Add(snap)
	}
	f.Add([]byte{})
	f.Add(rawSnapshot(1, 1<<40))
	f.Add(rawSnapshot(1, 2, []byte("b"), nil, []byte("a"), nil))
	f.Fuzz(func(t *testing.T, snap []byte) {
		s := applyOps(New(), EncodePut([]byte("keep"), []byte("me")))
		before := s.Digest()
		if err := s.Restore(snap); err != nil {
			if s.Digest() != before || s.Len() != 1 {
				t.Fatal("failed Restore changed the state")
			}
			return
		}
		out, _ := s.Snapshot()
		if !bytes.Equal(out, snap) {
			t.Fatal("accepted a non-canonical snapshot")
		}
		if s.Digest() != sha256.Sum256(snap) {
			t.Fatal("digest after Restore is not the snapshot hash")
		}
	})
}

// FuzzDecodeResult checks DecodeResult never panics and round-trips.
func FuzzDecodeResult(f *testing.F) {
	f.Add(EncodeResult(Result{Status: StatusOK, Value: []byte("v")}))
	f.Add(EncodeResult(Result{Status: StatusError, Err: "e"}))
	f.Add([]byte{byte(StatusOK), flagValue, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeResult(r), b) {
			t.Fatalf("accepted non-canonical result %x", b)
		}
	})
}
