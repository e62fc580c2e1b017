package kv

import (
	"crypto/sha256"
	"slices"
)

// Digest returns SHA-256 over the canonical snapshot encoding of the state.
// The result is cached until the next write, so calling it repeatedly (for
// example once per checkpoint and again when comparing with peers) is cheap.
func (s *Store) Digest() [32]byte {
	if !s.digestOK {
		h := sha256.New()
		s.writeCanonical(h)
		h.Sum(s.digest[:0])
		s.digestOK = true
	}
	return s.digest
}

// sortedKeys returns the keys in increasing byte order. The slice is cached
// and must not be modified.
func (s *Store) sortedKeys() []string {
	if !s.sortedOK {
		keys := make([]string, 0, len(s.data))
		for k := range s.data {
			keys = append(keys, k)
		}
		slices.Sort(keys) // string order is byte order
		s.sorted = keys
		s.sortedOK = true
	}
	return s.sorted
}
