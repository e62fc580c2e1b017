package network

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bulwark-bft/bulwark/crypto"
)

// admission is the set of client peer ids a replica host lets connect, from
// Config.Clients. Nil admits every client (an open testnet); an empty, non-nil
// set admits none. Replicas are never subject to it: the gater recognises
// them first.
//
// It is enforced at the connection (gater.InterceptSecured, which sees the
// authenticated peer id) rather than per request, so a client outside it
// gets no stream, no frame budget and no reply queue: requests, read-only
// requests and status queries alike.
type admission map[peer.ID]struct{}

// newAdmission derives the peer id of each client key: a client's peer id
// is its ed25519 key (PeerIDOf), so the cluster file names clients by the
// keys they sign requests with.
func newAdmission(keys []crypto.PublicKey) (admission, error) {
	if keys == nil {
		return nil, nil
	}
	a := make(admission, len(keys))
	for i, k := range keys {
		pid, err := PeerIDOf(k)
		if err != nil {
			return nil, fmt.Errorf("network: Config.Clients[%d]: %w", i, err)
		}
		a[pid] = struct{}{}
	}
	return a, nil
}

// admits says whether client p may connect.
func (a admission) admits(p peer.ID) bool {
	if a == nil {
		return true
	}
	_, ok := a[p]
	return ok
}

// admittedCount is for the start-up log line: "all" for an open cluster.
func admittedCount(a admission) any {
	if a == nil {
		return "all"
	}
	return len(a)
}
