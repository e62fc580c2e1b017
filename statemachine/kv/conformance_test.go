package kv

import (
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/servicetest"
)

// genOp draws ops over a tiny key and value space so overwrites, deletes of
// present keys and matching cas ops are common.
func genOp(r *rand.Rand) []byte {
	keys := [][]byte{nil, []byte("a"), []byte("b"), []byte("c"), []byte("longer-key")}
	vals := [][]byte{nil, []byte("x"), []byte("y"), []byte("zz")}
	key := keys[r.IntN(len(keys))]
	val := vals[r.IntN(len(vals))]
	switch r.IntN(4) {
	case 0:
		return EncodePut(key, val)
	case 1:
		return EncodeGet(key)
	case 2:
		return EncodeDelete(key)
	default:
		return EncodeCAS(key, vals[r.IntN(len(vals))], val)
	}
}

func TestConformance(t *testing.T) {
	servicetest.Run(t, func() statemachine.Service { return New() }, genOp)
}
