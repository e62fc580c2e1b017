// Package systest holds the system tests: real replica processes of the
// bulwark command (built once per test binary), real libp2p, real Badger,
// SIGKILL and restarts, attacks and audits. They live outside the command,
// which only parses flags and calls the root package.
package systest

import "github.com/bulwark-bft/bulwark"

// replicaStatus is what `bulwark status --json` prints for each replica.
type replicaStatus = bulwark.ReplicaStatus
