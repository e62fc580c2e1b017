package crypto

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCallgrindCrypto runs one fixed count of one crypto operation for
// docs/perf-instructions.sh to count instructions of under valgrind:
// BULWARK_CALLGRIND_CRYPTO=operation:count, or operation:count:setup for
// the same set-up without the counted loop, which the script subtracts.
// Operations: sign; verify-hot (one key, checked often enough to have its
// comb table); verify-cold (a new key each time: decoding, no table);
// batch (chunks of 16 signed by four keys, as a primary's batch from four
// client hosts).
func TestCallgrindCrypto(t *testing.T) {
	spec := os.Getenv("BULWARK_CALLGRIND_CRYPTO")
	if spec == "" {
		t.Skip("run by docs/perf-instructions.sh under valgrind")
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 {
		t.Fatalf("BULWARK_CALLGRIND_CRYPTO=%q: want operation:count[:setup]", spec)
	}
	op, setupOnly := parts[0], len(parts) > 2 && parts[2] == "setup"
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 1 || n > 250 {
		t.Fatalf("count %q: want 1 to 250", parts[1])
	}
	msg := NewTranscript("prepare", "callgrind").Uint64(1).Digest(Hash([]byte("x"))).Sum()
	keys := make([]*PrivateKey, n)
	sigs := make([][]byte, n)
	items := make([]Item, n)
	for i := range n {
		keys[i] = mustKey(t, byte(i))
		sigs[i] = keys[i].Sign(msg)
		k := keys[i%4]
		m := NewTranscript("request", "callgrind").Uint64(uint64(i)).Sum()
		items[i] = Item{PublicKey: k.PublicKey(), Message: m, Signature: k.Sign(m)}
	}
	hot := keys[0]
	for range tableAfter { // the hot key's table exists before the count starts
		Ed25519Verifier{}.Verify(hot.PublicKey(), msg, sigs[0])
	}
	for i := range 4 { // so do the batch keys' decoded points
		if err := CheckPublicKey(keys[i].PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	if setupOnly {
		return
	}
	switch op {
	case "sign":
		for range n {
			hot.Sign(msg)
		}
	case "verify-hot":
		for range n {
			if !(Ed25519Verifier{}).Verify(hot.PublicKey(), msg, sigs[0]) {
				t.Fatal("verify failed")
			}
		}
	case "verify-cold":
		resetKeyCache() // every key is new to the cache
		for i := range n {
			if !(Ed25519Verifier{}).Verify(keys[i].PublicKey(), msg, sigs[i]) {
				t.Fatal("verify failed")
			}
		}
	case "batch":
		for start := 0; start < n; start += batchChunk {
			if !batchVerify(items[start:min(start+batchChunk, n)]) {
				t.Fatal("batch failed")
			}
		}
	default:
		t.Fatalf("unknown operation %q", op)
	}
}
