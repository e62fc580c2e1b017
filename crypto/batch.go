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

// BatchVerifier is a Verifier that checks many signatures at once in a way
// of its own (a wrapper that answers some from checks it made earlier, say).
type BatchVerifier interface {
	Verifier
	// VerifyBatch returns each item's verdict, in item order.
	VerifyBatch(items []Item) []bool
}

// VerifyBatch verifies every item with v and returns the results in item
// order; a BatchVerifier checks them its own way. Large batches are spread over up to runtime.GOMAXPROCS(0)
// goroutines, the calling goroutine being one of them; small batches run
// inline. It returns only after every goroutine it started has finished, so
// nothing leaks. v must be safe for concurrent use, as Verifier requires.
func VerifyBatch(v Verifier, items []Item) []bool {
	if bv, ok := v.(BatchVerifier); ok {
		return bv.VerifyBatch(items)
	}
	results := make([]bool, len(items))
	workers := min(runtime.GOMAXPROCS(0), len(items)/batchChunk)
	if workers < 2 {
		for start := 0; start < len(items); start += batchChunk {
			verifyChunk(v, items[start:min(start+batchChunk, len(items))], results[start:])
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
			verifyChunk(v, items[start:end], results[start:end])
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

// singleAfterFailure is how many chunks are checked one signature at a time
// after a batch check failed. A failed batch says only that some signature
// in it is bad, so each is then checked alone: a chunk costs its batch check
// plus sixteen single ones. Checking the next chunks singly while someone
// sends forgeries keeps that surcharge to one chunk in every
// singleAfterFailure, about 2%, instead of one per forgery.
const singleAfterFailure = 64

// singleChunks counts down the chunks still to check singly (process-wide:
// forgeries reach every replica of the process alike).
var singleChunks atomic.Int64

// batchChecks counts chunks whose check as one batch was tried (for tests).
var batchChecks atomic.Uint64

// verifyChunk writes the verdict on each item into results. An
// Ed25519Verifier checks the chunk as one batch (a random linear
// combination: about 36 µs a signature on the 2-core development machine,
// against 61 one by one), and only if the batch fails each item alone; any
// other verifier checks them one by one.
func verifyChunk(v Verifier, items []Item, results []bool) {
	if _, ed := v.(Ed25519Verifier); ed && len(items) > 1 && singleChunks.Load() <= 0 {
		if batchVerify(items) {
			for i := range items {
				results[i] = true
			}
			return
		}
		singleChunks.Store(singleAfterFailure)
	} else if ed && singleChunks.Load() > 0 {
		singleChunks.Add(-1) // one chunk fewer to check singly (a race may take it below zero: harmless)
	}
	for i := range items {
		results[i] = v.Verify(items[i].PublicKey, items[i].Message, items[i].Signature)
	}
}

// batchVerify reports whether every item's signature is valid, checked at
// once under the same rules as Ed25519Verifier.Verify (a batch passes
// exactly when every signature would pass alone, but for a chance of about
// 2^-128 that a bad one slips through the random combination). Items of the
// wrong length or with a weak key fail the batch.
func batchVerify(items []Item) bool {
	batchChecks.Add(1)
	verifies.Add(uint64(len(items)))
	return batchVerifyEd25519(items)
}
