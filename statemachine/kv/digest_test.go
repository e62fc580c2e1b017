package kv

import (
	"crypto/sha256"
	"github.com/bulwark-bft/bulwark/statemachine"
	"testing"
)

func applyOps(s *Store, ops ...[]byte) *Store {
	s.Apply(1, statemachine.Anonymous(ops...))
	return s
}

func TestDigestTracksState(t *testing.T) {
	empty := New().Digest()
	if New().Digest() != empty {
		t.Fatal("two empty stores have different digests")
	}

	s := New()
	steps := []struct {
		name string
		op   []byte
		same bool // digest should be unchanged by this op
	}{
		{"put", EncodePut(k, v1), false},
		{"identical put", EncodePut(k, v1), true},
		{"overwrite", EncodePut(k, v2), false},
		{"get", EncodeGet(k), true},
		{"failed cas", EncodeCAS(k, v1, v1), true},
		{"cas", EncodeCAS(k, v2, v1), false},
		{"delete absent", EncodeDelete([]byte("absent")), true},
		{"malformed", []byte{1, 2, 3}, true},
		{"delete", EncodeDelete(k), false},
	}
	prev := s.Digest()
	for _, st := range steps {
		s.Apply(1, statemachine.Anonymous(st.op))
		d := s.Digest()
		if (d == prev) != st.same {
			t.Fatalf("%s: digest unchanged=%v, want %v", st.name, d == prev, st.same)
		}
		if s.Digest() != d {
			t.Fatalf("%s: repeated Digest() differs", st.name)
		}
		prev = d
	}
	if prev != empty {
		t.Fatal("store emptied again has a different digest from a new store")
	}
}

func TestDigestIndependentOfHistory(t *testing.T) {
	a := applyOps(New(), EncodePut([]byte("a"), v1), EncodePut([]byte("b"), v2), EncodePut([]byte("c"), v1))
	b := New()
	b.Apply(1, statemachine.Anonymous(EncodePut([]byte("c"), v2), EncodePut([]byte("x"), v1)))
	b.Apply(2, statemachine.Anonymous(EncodePut([]byte("b"), v2), EncodeDelete([]byte("x"))))
	b.Digest() // populate the cache mid-history
	b.Apply(3, statemachine.Anonymous(EncodePut([]byte("a"), v1), EncodeCAS([]byte("c"), v2, v1)))
	if a.Digest() != b.Digest() {
		t.Fatal("same contents reached by different histories give different digests")
	}
}

// TestDigestIsUnambiguous checks length prefixes keep key/value boundaries
// from blurring.
func TestDigestIsUnambiguous(t *testing.T) {
	a := applyOps(New(), EncodePut([]byte("ab"), []byte("c")))
	b := applyOps(New(), EncodePut([]byte("a"), []byte("bc")))
	c := applyOps(New(), EncodePut([]byte("a"), []byte("b")), EncodePut([]byte("c"), nil))
	if a.Digest() == b.Digest() || a.Digest() == c.Digest() || b.Digest() == c.Digest() {
		t.Fatal("distinct states share a digest")
	}
}

func TestDigestIsHashOfSnapshot(t *testing.T) {
	s := applyOps(New(), EncodePut([]byte("z"), v1), EncodePut([]byte("a"), v2), EncodePut(nil, nil))
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Digest() != sha256.Sum256(snap) {
		t.Fatal("Digest() != sha256(Snapshot())")
	}
}
