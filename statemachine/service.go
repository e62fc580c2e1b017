// Package statemachine defines the contract between the PBFT replica and the
// replicated service it drives: the application an organisation embeds.
//
// The replica orders client operations into batches and hands each committed
// batch to a Service. Because every correct replica must end up in the same
// state and send the same replies, a Service has to be fully deterministic: no
// clocks, no randomness, no map-iteration order leaking into results or
// snapshots, no dependence on anything but the sequence of Apply and Restore
// calls.
//
// When each method runs, on the replica's one protocol goroutine:
//   - Apply, once per committed batch, in sequence order, with the batch's
//     operations that are new for their client (a retransmission or replay is
//     answered from the replica's reply cache, never applied twice);
//   - Snapshot, once per checkpoint (every CheckpointInterval sequence
//     numbers, 64 by default) after Apply of that sequence number, and when a
//     state digest is asked for in tests: its bytes are what the checkpoint
//     certifies, so equal states must give equal bytes;
//   - Restore, at start-up from the replica's last stable checkpoint and when
//     the replica installs a state transfer;
//   - Query, for read-only operations, against the state after the last
//     Apply;
//   - Admit (optional, see Admission), for every operation before it is
//     ordered, at the primary and at every backup that prepares it.
//
// This package deliberately imports nothing from the protocol, so services can
// be written and tested in isolation (see package servicetest).
package statemachine

// Op is one ordered operation with the identity of the client that sent it.
// The replica verified that the client holding Client's private key signed
// the request (or sent it on its own authenticated connection), so a service
// may authorise by it: only an account's owner may debit it, say.
type Op struct {
	// Client is the client's ed25519 public key (32 bytes).
	Client []byte
	// Session is the client session the request belongs to; a client process
	// runs many at once.
	Session uint64
	// Data is the operation, opaque to the protocol.
	Data []byte
}

// Service is a deterministic replicated service. Replicas apply the same batches
// in the same order and must reach identical state and results.
// Implementations need not be safe for concurrent use (the replica calls them
// from one goroutine), and must not keep the slices they are given.
type Service interface {
	// Apply executes ops in order as the batch at sequence number seq,
	// returning exactly one result per op. A malformed or refused op yields
	// an error result (never a panic, never a skipped slot).
	Apply(seq uint64, ops []Op) [][]byte

	// Query answers a read-only op of client against the current state
	// without changing it. Error for malformed or non-read-only ops.
	Query(client []byte, op []byte) ([]byte, error)

	// Snapshot serialises the whole state canonically: the same state gives
	// the same bytes on every replica (checkpoints certify their hash).
	Snapshot() ([]byte, error)

	// Restore replaces the state with a snapshot; on error the state is
	// unchanged. Must reject malformed/truncated snapshots with a clear error
	// and bounded allocation (never trust a length prefix beyond the
	// remaining input).
	Restore(snapshot []byte) error
}

// Admission is implemented by services that refuse some operations before
// they are ordered: malformed ones, or ones the client may not issue. The
// replica asks at the primary before ordering a request and at each backup
// before it prepares a batch holding it, so a refused operation costs its
// client one reply (the error, from every replica alike) and the cluster no
// agreement round. Admit must be deterministic and depend only on its
// arguments, never on the service's state, which differs between replicas
// at the moment they ask.
type Admission interface {
	Admit(client []byte, op []byte) error
}

// Identified is an optional interface of a Service: the name and version
// of the service, which a cluster file may name (its "service" section). A
// replica whose service is not the one the cluster file names refuses to
// start, rather than diverging from the others; bump the version whenever
// Apply's results or the snapshot format change.
type Identified interface {
	ServiceIdentity() (name, version string)
}

// Anonymous wraps raw operations as Ops of no client, for tests and tools
// that apply operations to a service outside a replica.
func Anonymous(data ...[]byte) []Op {
	ops := make([]Op, len(data))
	for i, d := range data {
		ops[i] = Op{Data: d}
	}
	return ops
}
