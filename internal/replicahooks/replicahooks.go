// Package replicahooks lets the command and the benchmark harness set the
// options of bulwark.ReplicaOptions that embedders must not: a replica that
// misbehaves on purpose, and a wrapper around its transport (the harness
// cuts a replica off with it, the command records what it sent). Package
// bulwark sets these functions when it is initialised; opts is a
// *bulwark.ReplicaOptions (this package cannot name the type: bulwark
// imports it).
package replicahooks

import (
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
)

var (
	// WithFault makes the replica misbehave (byzantine.Honest: it does not).
	WithFault func(opts any, f byzantine.Kind)
	// WithTransportWrapper wraps the replica's transport, inside the fault.
	WithTransportWrapper func(opts any, wrap func(pbft.Transport) pbft.Transport)
)
