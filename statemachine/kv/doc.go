// Package kv is a deterministic key-value store implementing
// statemachine.Service.
//
// # Operations
//
// Every operation is one opcode byte followed by fields, each encoded as a
// big-endian uint32 length and that many bytes. Trailing bytes are rejected so
// each operation has exactly one encoding.
//
//	put    0x01 | key | value
//	get    0x02 | key
//	delete 0x03 | key
//	cas    0x04 | key | old | new
//
// Semantics:
//
//   - put stores value under key and answers StatusOK.
//   - get answers StatusOK with the value, or StatusNotFound. A get inside
//     Apply is ordered with the batch, so it sees earlier writes in the same
//     batch; Query runs a get against the current state without ordering.
//   - delete removes key and answers StatusOK. It is idempotent: deleting an
//     absent key also answers StatusOK, so a retried delete cannot fail.
//   - cas swaps key to new when its current value equals old and answers
//     StatusSwapped; otherwise it answers StatusUnchanged with the current
//     value (nil if absent). An empty old means "key absent", so cas with an
//     empty old creates a key only if it does not exist. A consequence is that
//     a key holding an empty value never matches a cas; use put or delete.
//
// Keys may be at most MaxKeySize bytes and values (including cas old values)
// at most MaxValueSize bytes. An operation that is malformed or exceeds a
// limit is answered with StatusError rather than dropped, because the replica
// must send every client exactly one reply per operation. Error messages
// depend only on the operation bytes, so they are identical on every replica.
//
// # Results
//
// A result is encoded as
//
//	status (1 byte) | flags (1 byte) | [value field] | [error field]
//
// where flag bit 0 says a value field follows (so a nil value and an empty
// value stay distinct) and the error field is present exactly when the status
// is StatusError. Fields use the same uint32 length prefix as operations.
//
// # Snapshots and digest
//
// A snapshot is
//
//	"BWKV" | version (1 byte, currently 1) | count (uint64) | entries
//
// with count entries of key field | value field in strictly increasing key
// order. Sorting makes the encoding canonical: equal states give identical
// bytes, and Restore rejects anything that is not canonical. Digest is
// SHA-256 over exactly these bytes, so Digest() == sha256.Sum256(Snapshot()).
//
// The store's state is only its key-value map. Apply's sequence number is not
// recorded: ordering and checkpoint sequence numbers are the protocol's
// business, and keeping them out of the state means two replicas holding the
// same data agree on the digest however they got there.
package kv
