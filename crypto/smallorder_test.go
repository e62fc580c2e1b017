package crypto

import (
	"encoding/hex"
	"errors"
	"testing"
)

// smallOrderEncodings are encodings of points of small order, canonical and
// not (y at or above the field prime, a sign bit on x = 0), as the lenient
// decoding of the verification rules reads them.
var smallOrderEncodings = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p: order 4, non-canonical
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1: identity, non-canonical
}

// No key of small order is accepted: not from a cluster file, not by a
// signature check one by one, not inside a batch. Under the cofactored
// rules anyone can sign for such a key (here: s = 0, R = the identity).
func TestSmallOrderKeysAreRefused(t *testing.T) {
	forged := make([]byte, SignatureSize)
	forged[0] = 1 // R = the identity, s = 0
	k := mustKey(t, 1)
	msg := []byte("anything")
	for _, enc := range smallOrderEncodings {
		pub, err := hex.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePublicKeyHex(enc); !errors.Is(err, ErrWeakKey) {
			t.Errorf("%s: ParsePublicKeyHex: %v, want ErrWeakKey", enc, err)
		}
		if (Ed25519Verifier{}).Verify(pub, msg, forged) {
			t.Errorf("%s: Verify accepted a forgery for a small-order key", enc)
		}
		items := []Item{{PublicKey: k.PublicKey(), Message: msg, Signature: k.Sign(msg)}, {PublicKey: pub, Message: msg, Signature: forged}}
		singleChunks.Store(0)
		before := batchChecks.Load()
		if got := VerifyBatch(Ed25519Verifier{}, items); !got[0] || got[1] {
			t.Errorf("%s: VerifyBatch = %v, want [true false]", enc, got)
		}
		if batchChecks.Load() == before {
			t.Errorf("%s: the batch was not checked as one", enc)
		}
	}
	if err := CheckPublicKey(k.PublicKey()); err != nil {
		t.Errorf("a generated key: %v", err)
	}
}

// Valid signatures are checked a chunk at a time as one batch; after a
// batch fails, the next chunks are checked singly, and the results match a
// check one by one throughout.
func TestVerifyBatchChecksChunksAsOne(t *testing.T) {
	singleChunks.Store(0)
	items := makeItems(t, 64)
	var good []Item
	for _, it := range items {
		if (Ed25519Verifier{}).Verify(it.PublicKey, it.Message, it.Signature) {
			good = append(good, it)
		}
	}
	before := batchChecks.Load()
	for i, ok := range VerifyBatch(Ed25519Verifier{}, good) {
		if !ok {
			t.Fatalf("valid item %d refused", i)
		}
	}
	if n := batchChecks.Load() - before; n != uint64((len(good)+batchChunk-1)/batchChunk) {
		t.Fatalf("%d batch checks for %d valid items, want one per chunk of %d", n, len(good), batchChunk)
	}
	VerifyBatch(Ed25519Verifier{}, items) // some invalid: a batch fails
	if singleChunks.Load() <= 0 {
		t.Fatal("a failed batch did not turn the next chunks to single checks")
	}
	before = batchChecks.Load()
	VerifyBatch(Ed25519Verifier{}, good)
	if batchChecks.Load() != before {
		t.Fatal("chunks right after a failed batch were checked as a batch again")
	}
	singleChunks.Store(0)
}
