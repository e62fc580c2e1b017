// Package bulwark replicates your deterministic service across replicas run
// by organisations that do not trust each other, with PBFT: any f of 3f+1
// replicas may fail arbitrarily, and clients still get the results of one
// agreed order of operations.
//
// The path:
//
//  1. Implement statemachine.Service: Apply each ordered batch (every
//     operation arrives with its client's verified key, so the service can
//     authorise by sender), Query for reads, a canonical Snapshot and a
//     Restore. Optionally implement statemachine.Admission, to refuse bad
//     operations before they are ordered, and statemachine.Identified, to
//     name the service and its version.
//  2. Run the conformance suite, statemachine/servicetest.Run, in your
//     tests: it checks determinism, snapshots and admission.
//  3. Write a cluster file (File; Load reads one): the cluster id, each
//     replica's public key, peer id and addresses, the protocol parameters
//     (DefaultProtocol), optionally the clients admitted and the service's
//     name and version. `bulwark testnet` writes one for a local cluster.
//  4. On each replica's machine, StartReplica with its id, key, data
//     directory and service; Stop it to shut down.
//  5. Dial the cluster with a client key and submit operations with
//     Client.Do (ordered) and Client.Read (linearizable, and unordered when
//     2f+1 replicas agree); Client.Status asks every replica how far it is.
//
// Errors callers branch on are typed: ErrOperationTooLarge (nothing was
// sent), *NoQuorumError (the context ended first; it says how many replicas
// were connected, replied and agreed), *RejectedError (errors.Is
// ErrRejected: the service's admission check refused the operation),
// ErrClientClosed.
//
// The cluster file (File) is JSON: cluster_id; replicas, in id order, each
// with id, public_key (hex ed25519), peer_id and addrs; protocol, with
// checkpoint_interval, window, max_batch, max_batch_bytes (default
// pbft.DefaultMaxBatchBytes), max_message_size (the network's frame limit
// and the core's largest message, default network.DefaultMaxFrameSize),
// view_change_ticks and tick_ms; clients, the hex public keys of the only
// clients admitted, left out to admit every client key; and service, the
// name and version every replica's service must identify as. Load refuses a
// file the replicas could not run on, each mistake in one line naming the
// field: besides malformed entries, two replicas on one socket, limits
// beyond ceilings that no working cluster comes near, and parameters under
// which the core's largest message would not fit max_message_size, which it
// finds by running the core's own configuration check.
//
// The bulwark command and the benchmark harness start replicas through this
// package too, so a replica in a benchmark is the program an operator runs.
package bulwark
