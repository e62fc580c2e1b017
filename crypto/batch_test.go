package crypto

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// makeItems returns n items signed by a few keys; every seventh one is made
// invalid in a rotating way (bad message, bad signature, short signature,
// wrong key), so the batch results are a non-trivial pattern.
func makeItems(tb testing.TB, n int) []Item {
	tb.Helper()
	keys := []*PrivateKey{mustKey(tb, 1), mustKey(tb, 2), mustKey(tb, 3)}
	items := make([]Item, n)
	for i := range items {
		k := keys[i%len(keys)]
		msg := NewTranscript("test", "batch").Uint64(uint64(i)).Sum()
		items[i] = Item{PublicKey: k.PublicKey(), Message: msg, Signature: k.Sign(msg)}
		if i%7 == 3 {
			switch (i / 7) % 4 {
			case 0:
				items[i].Message = append(items[i].Message, 0)
			case 1:
				items[i].Signature[5] ^= 1
			case 2:
				items[i].Signature = items[i].Signature[:10]
			case 3:
				items[i].PublicKey = keys[(i+1)%len(keys)].PublicKey()
			}
		}
	}
	return items
}

func TestVerifyBatchMatchesSequential(t *testing.T) {
	var v Ed25519Verifier
	for _, n := range []int{0, 1, 3, 31, 32, 33, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			items := makeItems(t, n)
			got := VerifyBatch(v, items)
			if len(got) != n {
				t.Fatalf("got %d results, want %d", len(got), n)
			}
			invalid := 0
			for i, it := range items {
				want := v.Verify(it.PublicKey, it.Message, it.Signature)
				if got[i] != want {
					t.Errorf("item %d: batch %v, sequential %v", i, got[i], want)
				}
				if !want {
					invalid++
				}
			}
			if n >= 7 && invalid == 0 {
				t.Error("test data has no invalid items")
			}
		})
	}
}

// countingVerifier records concurrency so the test can see that large
// batches really fan out and that no worker outlives the call.
type countingVerifier struct {
	inFlight, peak, calls atomic.Int64
}

func (c *countingVerifier) Verify(pub PublicKey, msg, sig []byte) bool {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	c.calls.Add(1)
	time.Sleep(20 * time.Microsecond) // give other workers a chance to overlap
	return len(sig) == 1 && sig[0] == msg[0]
}

func TestVerifyBatchParallelAndNoLeak(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	items := make([]Item, 1000)
	for i := range items {
		items[i] = Item{Message: []byte{byte(i)}, Signature: []byte{byte(i % 3)}}
	}
	before := runtime.NumGoroutine()
	var c countingVerifier
	got := VerifyBatch(&c, items)
	if c.calls.Load() != int64(len(items)) {
		t.Errorf("Verify called %d times, want %d", c.calls.Load(), len(items))
	}
	if c.inFlight.Load() != 0 {
		t.Error("verifications still running after VerifyBatch returned")
	}
	if c.peak.Load() < 2 {
		t.Errorf("peak concurrency %d; a 1000-item batch should run in parallel", c.peak.Load())
	}
	for i := range items {
		if want := byte(i) == byte(i%3); got[i] != want {
			t.Fatalf("item %d = %v, want %v", i, got[i], want)
		}
	}
	// A worker's wg.Done comes just before its goroutine ends, so one may
	// still be counted right after the Wait: a leak is one that stays.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(time.Millisecond)
	}
	if after > before {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}

	// Small batches run inline: never more than one at a time.
	var small countingVerifier
	VerifyBatch(&small, items[:5])
	if small.peak.Load() != 1 {
		t.Errorf("small batch peak concurrency %d, want 1", small.peak.Load())
	}
}
