package null

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/servicetest"
)

func TestConformance(t *testing.T) {
	servicetest.Run(t, func() statemachine.Service { return New() }, func(r *rand.Rand) []byte {
		op := make([]byte, r.IntN(16))
		for i := range op {
			op[i] = byte(r.Uint32())
		}
		return op
	})
}

func TestApplyCounts(t *testing.T) {
	s := New()
	res := s.Apply(7, statemachine.Anonymous(nil, []byte("x"), []byte{}))
	want := [][]byte{{}, []byte("x"), {}}
	for i, r := range res {
		if r == nil || string(r) != string(want[i]) {
			t.Fatalf("result %d = %#v, want %q (the op echoed, never nil)", i, r, want[i])
		}
	}
	s.Apply(9, statemachine.Anonymous())
	if s.Applied() != 3 || s.LastSeq() != 9 {
		t.Fatalf("Applied, LastSeq = %d, %d; want 3, 9", s.Applied(), s.LastSeq())
	}
	q, err := s.Query(nil, nil)
	if err != nil || len(q) != 8 || binary.BigEndian.Uint64(q) != 3 {
		t.Fatalf("Query = %x, %v; want 3 as 8 bytes", q, err)
	}
}

// TestDigestSeparatesHistories checks that histories with the same op count
// but different sequence numbers, or vice versa, do not collide.
func TestDigestSeparatesHistories(t *testing.T) {
	a, b, c := New(), New(), New()
	a.Apply(1, statemachine.Anonymous(nil, nil))
	b.Apply(2, statemachine.Anonymous(nil, nil))
	c.Apply(1, statemachine.Anonymous(nil))
	if a.Digest() == b.Digest() || a.Digest() == c.Digest() || New().Digest() == a.Digest() {
		t.Fatal("different histories share a digest")
	}
}

func TestRestoreRejects(t *testing.T) {
	good, _ := New().Snapshot()
	badVersion := append([]byte(nil), good...)
	badVersion[len(snapshotMagic)] = 9
	badMagic := append([]byte("XXXX"), good[4:]...)
	tests := []struct {
		name string
		snap []byte
		want error
	}{
		{"nil", nil, ErrMalformedSnapshot},
		{"short", good[:snapshotSize-1], ErrMalformedSnapshot},
		{"long", append(append([]byte(nil), good...), 0), ErrMalformedSnapshot},
		{"bad magic", badMagic, ErrMalformedSnapshot},
		{"bad version", badVersion, ErrSnapshotVersion},
	}
	for _, tt := range tests {
		s := New()
		s.Apply(5, statemachine.Anonymous(nil))
		before := s.Digest()
		if err := s.Restore(tt.snap); !errors.Is(err, tt.want) {
			t.Errorf("%s: Restore error = %v, want %v", tt.name, err, tt.want)
		}
		if s.Digest() != before {
			t.Errorf("%s: failed Restore changed the state", tt.name)
		}
	}
}

func FuzzRestore(f *testing.F) {
	s := New()
	s.Apply(3, statemachine.Anonymous(nil))
	snap, _ := s.Snapshot()
	f.Add(snap)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New()
		s.Apply(1, statemachine.Anonymous(nil))
		before := s.Digest()
		if err := s.Restore(b); err != nil {
			if s.Digest() != before {
				t.Fatal("failed Restore changed the state")
			}
			return
		}
		out, _ := s.Snapshot()
		if string(out) != string(b) {
			t.Fatal("accepted a non-canonical snapshot")
		}
	})
}

// BenchmarkNullApply applies a batch of 64 ops: the per-batch floor the
// service adds to a protocol benchmark.
func BenchmarkNullApply(b *testing.B) {
	s := New()
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = make([]byte, 128)
	}
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		s.Apply(seq, statemachine.Anonymous(batch...))
	}
}
