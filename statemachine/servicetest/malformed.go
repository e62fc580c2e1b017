package servicetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// mangle derives a (probably) malformed op from a well-formed one.
func mangle(r *rand.Rand, op []byte) []byte {
	switch r.IntN(5) {
	case 0: // truncate
		if len(op) == 0 {
			return []byte{0}
		}
		return bytes.Clone(op[:r.IntN(len(op))])
	case 1: // trailing byte
		return append(bytes.Clone(op), byte(r.Uint32()))
	case 2: // flip a byte
		out := bytes.Clone(op)
		if len(out) > 0 {
			out[r.IntN(len(out))] ^= byte(1 + r.IntN(255))
		}
		return out
	case 3: // random bytes
		out := make([]byte, r.IntN(32))
		for i := range out {
			out[i] = byte(r.Uint32())
		}
		return out
	default: // all-ones, which reads as huge length prefixes in most formats
		return bytes.Repeat([]byte{0xff}, 1+r.IntN(16))
	}
}

// malformedOps mixes garbage into batches. Apply must neither panic nor skip
// a slot, and the garbage must be handled deterministically.
func (s suite) malformedOps(t *testing.T) {
	a, b := s.newService(), s.newService()
	apply(t, a, 1, [][]byte{nil, {}})
	apply(t, b, 1, [][]byte{nil, {}})
	r := newRand(15)
	for i := range numBatches {
		batch := make([][]byte, 1+r.IntN(maxBatch))
		for j := range batch {
			op := s.genOps(r)
			if r.IntN(2) == 0 {
				op = mangle(r, op)
			}
			batch[j] = op
		}
		seq := uint64(i + 2)
		what := fmt.Sprintf("batch %d", i)
		sameResults(t, what, apply(t, a, seq, cloneBatch(batch)), apply(t, b, seq, cloneBatch(batch)))
		sameState(t, what, fingerprintOf(t, a), fingerprintOf(t, b))
	}
}
