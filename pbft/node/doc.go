// Package node assembles a runnable replica and client from the parts: the
// public cluster file, the Badger store, the libp2p host and the driver. The
// bulwark command and the benchmark harness both start replicas through it,
// so a replica in a benchmark is the same program an operator runs.
package node
