package crypto

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Item is one signature to check in a batch.
type Item struct {
	PublicKey PublicKey
	Message   []byte
	Signature []byte
}

// batchChunk is how many items a worker claims at a time. An Ed25519
// verification costs tens of microseconds, so a chunk of 16 dwarfs the cost
// of starting a goroutine and of the atomic claim; it is also large enough
// that cheap verifiers (cryptotest's HMAC, about a microsecond) are not
// swamped by scheduling overhead. Batches of fewer than two chunks run inline.
const batchChunk = 16

// VerifyBatch verifies every item with v and returns the results in item
// order. Large batches are spread over up to runtime.GOMAXPROCS(0)
// goroutines, the calling goroutine being one of them; small batches run
// inline. It returns only after every goroutine it started has finished, so
// nothing leaks. v must be safe for concurrent use, as Verifier requires.
func VerifyBatch(v Verifier, items []Item) []bool {
	results := make([]bool, len(items))
	workers := min(runtime.GOMAXPROCS(0), len(items)/batchChunk)
	if workers < 2 {
		for i := range items {
			results[i] = v.Verify(items[i].PublicKey, items[i].Message, items[i].Signature)
		}
		return results
	}

	// Workers claim chunks from a shared counter instead of taking fixed
	// slices, so one worker that is descheduled or given slow items does not
	// hold up the whole batch. Each result slot is written by exactly one
	// worker, and wg.Wait orders those writes before the return.
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(batchChunk))
			start := end - batchChunk
			if start >= len(items) {
				return
			}
			end = min(end, len(items))
			for i := start; i < end; i++ {
				results[i] = v.Verify(items[i].PublicKey, items[i].Message, items[i].Signature)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return results
}
