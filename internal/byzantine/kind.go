package byzantine

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what a faulty replica does; its value is its name, as the command
// line spells it.
type Kind string

// The kinds. The comments say what a replica of each kind sends instead of
// what its honest core would.
const (
	Honest       Kind = ""              // what the core sends, unchanged
	Silent       Kind = "silent"        // nothing
	BadSignature Kind = "bad-signature" // every signed message with its signature corrupted
	WrongDigest  Kind = "wrong-digest"  // prepares and commits for a digest nobody proposed, validly signed
	Replay       Kind = "replay"        // also old messages it sent or received, to random replicas
	WrongResult  Kind = "wrong-result"  // replies with a wrong result (every such replica the same one)
	Equivocate   Kind = "equivocate"    // as primary, another validly signed batch to odd backups
	DigestLie    Kind = "digest-lie"    // as primary, other requests under the signed digest to odd backups
	Repropose    Kind = "repropose"     // as primary, an already ordered request added to every new batch
	ForgeRequest Kind = "forge-request" // as primary, a request under a client's key it cannot sign added
	BadState     Kind = "bad-state"     // state chunks with a flipped byte, or no last chunk
	SkipSequence Kind = "skip-sequence" // as primary, every third sequence number left unassigned
	BadNewView   Kind = "bad-new-view"  // as a new primary, a NEW-VIEW the view changes do not give
	Slow         Kind = "slow"          // as primary, its pre-prepares delayed to just under the view-change timeout
	Sluggish     Kind = "sluggish"      // as primary, its pre-prepares delayed to just under the performance monitor's floor
	Censor       Kind = "censor"        // as primary, the requests of one client key left out of every batch
	StaleRead    Kind = "stale-read"    // answers each read-only request with the result of its client's previous one
	// Twin and Mutate only the simulator carries out: two honest instances
	// sharing the replica's key, and small-scope mutation by round
	// (internal/sim); a Decorator passes their messages unchanged.
	Twin   Kind = "twin"
	Mutate Kind = "mutate"
)

// replicaKinds are the kinds a real replica carries out
// (`bulwark replica --fault`), in the order help and errors list them.
// Replay, Twin and Mutate need what only the simulator has: every message
// the replica receives, a second instance, the protocol's rounds; Sluggish
// the simulator's clock in ticks.
var replicaKinds = []Kind{Silent, Equivocate, BadSignature, WrongResult, Slow,
	WrongDigest, DigestLie, Repropose, ForgeRequest, BadState, SkipSequence, BadNewView,
	Censor, StaleRead}

func (k Kind) String() string {
	if k == Honest {
		return "honest"
	}
	return string(k)
}

// Parse checks the name of a kind a real replica can carry out; "" and
// "honest" are Honest.
func Parse(name string) (Kind, error) {
	if name == "honest" {
		return Honest, nil
	}
	switch k := Kind(name); {
	case k == Honest, slices.Contains(replicaKinds, k):
		return k, nil
	case k == Replay, k == Twin, k == Mutate, k == Sluggish:
		return "", fmt.Errorf("fault %q exists only in the simulator; a replica takes %s", name, ReplicaNames())
	}
	return "", fmt.Errorf("fault %q is not one of %s", name, ReplicaNames())
}

// ReplicaNames lists the kinds a real replica carries out, for help and
// error text: "silent, equivocate, ... or stale-read".
func ReplicaNames() string {
	names := make([]string, len(replicaKinds))
	for i, k := range replicaKinds {
		names[i] = string(k)
	}
	last := len(names) - 1
	return strings.Join(names[:last], ", ") + " or " + names[last]
}
