package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/bulwark-bft/bulwark/statemachine"
	"testing"
)

// rawSnapshot builds a snapshot by hand so tests can produce encodings the
// store would never write.
func rawSnapshot(version byte, count uint64, entries ...[]byte) []byte {
	b := append([]byte(snapshotMagic), version)
	b = binary.BigEndian.AppendUint64(b, count)
	for _, e := range entries {
		b = appendField(b, e)
	}
	return b
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := applyOps(New(),
		EncodePut([]byte("b"), v1), EncodePut([]byte("a"), nil), EncodePut(nil, v2),
		EncodePut(make([]byte, MaxKeySize), make([]byte, 100)))
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dst := applyOps(New(), EncodePut([]byte("stale"), v1))
	if err := dst.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if dst.Digest() != src.Digest() || dst.Len() != src.Len() {
		t.Fatal("restored store differs from source")
	}
	got := decodeOne(t, dst.Apply(1, statemachine.Anonymous(EncodeGet([]byte("a")))))
	if got.Status != StatusOK || got.Value == nil || len(got.Value) != 0 {
		t.Fatalf("empty value after restore = %+v, want present and empty", got)
	}
	if r := decodeOne(t, dst.Apply(2, statemachine.Anonymous(EncodeGet([]byte("stale"))))); r.Status != StatusNotFound {
		t.Fatal("Restore merged instead of replacing")
	}
	// After a write the cached digest must be recomputed, not reused from Restore.
	dst.Apply(3, statemachine.Anonymous(EncodePut([]byte("new"), v1)))
	src.Apply(3, statemachine.Anonymous(EncodePut([]byte("new"), v1)))
	if dst.Digest() != src.Digest() {
		t.Fatal("digests diverge after writing to a restored store")
	}
}

func TestRestoreRejects(t *testing.T) {
	good := rawSnapshot(1, 2, []byte("a"), v1, []byte("b"), v2)
	tests := []struct {
		name string
		snap []byte
		want error
	}{
		{"nil", nil, ErrMalformedSnapshot},
		{"bad magic", append([]byte("XXXX"), good[4:]...), ErrMalformedSnapshot},
		{"unknown version", rawSnapshot(2, 0), ErrSnapshotVersion},
		{"version zero", rawSnapshot(0, 0), ErrSnapshotVersion},
		{"header only, truncated count", good[:headerSize-1], ErrMalformedSnapshot},
		{"count exceeds input", rawSnapshot(1, 1<<62), ErrMalformedSnapshot},
		{"count larger than entries", rawSnapshot(1, 3, []byte("a"), v1, []byte("b"), v2), ErrMalformedSnapshot},
		{"count smaller than entries", rawSnapshot(1, 1, []byte("a"), v1, []byte("b"), v2), ErrMalformedSnapshot},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformedSnapshot},
		{"unsorted", rawSnapshot(1, 2, []byte("b"), v1, []byte("a"), v2), ErrMalformedSnapshot},
		{"duplicate key", rawSnapshot(1, 2, []byte("a"), v1, []byte("a"), v2), ErrMalformedSnapshot},
		{"key too large", rawSnapshot(1, 1, make([]byte, MaxKeySize+1), v1), ErrMalformedSnapshot},
		{"huge value length", append(rawSnapshot(1, 1, []byte("a")), 0xff, 0xff, 0xff, 0xff), ErrMalformedSnapshot},
	}
	for n := range len(good) {
		tests = append(tests, struct {
			name string
			snap []byte
			want error
		}{"truncated", good[:n], nil})
	}
	for _, tt := range tests {
		s := applyOps(New(), EncodePut([]byte("keep"), v1))
		before := s.Digest()
		err := s.Restore(tt.snap)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s (%d bytes): Restore error = %v, want %v", tt.name, len(tt.snap), err, tt.want)
			continue
		}
		if s.Digest() != before || s.Len() != 1 {
			t.Errorf("%s: failed Restore changed the state", tt.name)
		}
	}
	if err := New().Restore(good); err != nil {
		t.Fatalf("hand-built valid snapshot rejected: %v", err)
	}
}
