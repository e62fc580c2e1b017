package kv

import (
	"bytes"
	"fmt"
	"github.com/bulwark-bft/bulwark/statemachine"
	"testing"
)

// BenchmarkKVApply applies a batch of 64 puts of 128-byte values, the shape
// of a typical write-heavy PBFT batch.
func BenchmarkKVApply(b *testing.B) {
	s := New()
	// Two batches with different values, applied alternately, so every put
	// really writes (an identical put is short-circuited).
	var batches [2][][]byte
	for v := range batches {
		val := bytes.Repeat([]byte{byte(v)}, 128)
		batches[v] = make([][]byte, 64)
		for i := range batches[v] {
			batches[v][i] = EncodePut(fmt.Appendf(nil, "key-%04d", i), val)
		}
	}
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		s.Apply(seq, statemachine.Anonymous(batches[seq%2]...))
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkKVDigest measures a checkpoint digest over 10k keys: "cold" after
// one value changed (rehash, key order still cached), "newkey" after the key
// set changed (resort and rehash), and "cached" with no change.
func BenchmarkKVDigest(b *testing.B) {
	s := New()
	val := make([]byte, 64)
	for i := range 10_000 {
		s.Apply(uint64(i), statemachine.Anonymous(EncodePut(fmt.Appendf(nil, "key-%06d", i), val)))
	}
	flip := [][]byte{EncodePut([]byte("key-000000"), []byte("a"))}
	flop := [][]byte{EncodePut([]byte("key-000000"), []byte("b"))}
	b.Run("cold", func(b *testing.B) {
		var i uint64
		for b.Loop() {
			i++
			if i%2 == 0 {
				s.Apply(i, statemachine.Anonymous(flip...))
			} else {
				s.Apply(i, statemachine.Anonymous(flop...))
			}
			s.Digest()
		}
	})
	add := [][]byte{EncodePut([]byte("extra"), nil)}
	del := [][]byte{EncodeDelete([]byte("extra"))}
	b.Run("newkey", func(b *testing.B) {
		var i uint64
		for b.Loop() {
			i++
			if i%2 == 0 {
				s.Apply(i, statemachine.Anonymous(add...))
			} else {
				s.Apply(i, statemachine.Anonymous(del...))
			}
			s.Digest()
		}
	})
	b.Run("cached", func(b *testing.B) {
		s.Digest()
		for b.Loop() {
			s.Digest()
		}
	})
}
