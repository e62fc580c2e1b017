// Package bulwark replicates a deterministic service with PBFT: it assembles a runnable replica and client from the parts: the
// public cluster file, the Badger store, the libp2p host and the driver. The
// bulwark command and the benchmark harness both start replicas through it,
// so a replica in a benchmark is the same program an operator runs.
//
// The cluster file (File) is JSON: cluster_id; replicas, in id order, each
// with id, public_key (hex ed25519), peer_id and addrs; protocol, with
// checkpoint_interval, window, max_batch, max_batch_bytes (default
// pbft.DefaultMaxBatchBytes), max_message_size (the network's frame limit
// and the core's largest message, default network.DefaultMaxFrameSize),
// view_change_ticks and tick_ms; and clients, the hex public keys of the
// only clients admitted, left out to admit every client key. Load refuses a
// file the replicas could not run on, each mistake in one line naming the
// field: besides malformed entries, two replicas on one socket, limits
// beyond ceilings that no working cluster comes near, and parameters under
// which the core's largest message would not fit max_message_size, which it
// finds by running the core's own configuration check.
package bulwark
