package crypto

import "sync/atomic"

// Process-wide counts of Ed25519 operations. The benchmark harness divides
// them by completed requests to report what each request cost in
// signatures; replicas export them as metrics. An atomic add is noise next
// to a 30-60 µs signature operation.
var signs, verifies atomic.Uint64

// Counts returns how many Ed25519 signatures this process has made and
// verified since it started.
func Counts() (signed, verified uint64) { return signs.Load(), verifies.Load() }
