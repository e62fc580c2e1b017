// Package statemachine defines the contract between the PBFT replica and the
// replicated service it drives.
//
// The replica orders client operations into batches and hands each committed
// batch to a Service. Because every correct replica must end up in the same
// state and send the same replies, a Service has to be fully deterministic: no
// clocks, no randomness, no map-iteration order leaking into results, no
// dependence on anything but the sequence of Apply and Restore calls.
//
// This package deliberately imports nothing from the protocol, so services can
// be written and tested in isolation (see package servicetest).
package statemachine

// Service is a deterministic replicated service. Replicas apply the same batches
// in the same order and must reach identical state and results.
// Implementations need not be safe for concurrent use (the replica calls them
// from one goroutine).
type Service interface {
	// Apply executes ops in order as the batch at sequence number seq,
	// returning exactly one result per op. A malformed op yields an error
	// result (never a panic, never a skipped slot).
	Apply(seq uint64, ops [][]byte) [][]byte

	// Query answers a read-only op against the current state without
	// changing it. Error for malformed or non-read-only ops.
	Query(op []byte) ([]byte, error)

	// Snapshot serialises the whole state deterministically (same state =>
	// same bytes).
	Snapshot() ([]byte, error)

	// Restore replaces the state with a snapshot; on error the state is
	// unchanged. Must reject malformed/truncated snapshots with a clear error
	// and bounded allocation (never trust a length prefix beyond the
	// remaining input).
	Restore(snapshot []byte) error

	// Digest is SHA-256 over the canonical state; equal states give equal
	// digests.
	Digest() [32]byte
}
