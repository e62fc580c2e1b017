package network

import (
	"errors"
	"fmt"
	"slices"

	"github.com/multiformats/go-multiaddr"
)

// ErrNotListening: the host could not listen on an address it was given.
var ErrNotListening = errors.New("network: not listening on a configured address")

// checkListening reports the first of want the host does not listen on.
// libp2p starts a host when at least one of its addresses could be bound,
// so a replica whose TCP port another socket had taken ran on QUIC alone:
// its peers reached it over the connections it dialed itself, but no client
// (clients dial its TCP address, see tcpFirst) ever could, and every
// request waited for a client's resend to come through a backup. An
// address with port 0 matches any port of its kind.
func checkListening(want []string, have []multiaddr.Multiaddr) error {
	for _, w := range want {
		wa, err := multiaddr.NewMultiaddr(w)
		if err != nil {
			return fmt.Errorf("network: listen address %q: %w", w, err)
		}
		if !slices.ContainsFunc(have, func(h multiaddr.Multiaddr) bool { return sameListenAddr(wa, h) }) {
			return fmt.Errorf("%w: %s (is the port in use?), listening on %v", ErrNotListening, w, have)
		}
	}
	return nil
}

// sameListenAddr reports whether listener address have serves want: equal,
// or equal but for a port 0 in want.
func sameListenAddr(want, have multiaddr.Multiaddr) bool {
	if want.Equal(have) {
		return true
	}
	wp, hp := want.Protocols(), have.Protocols()
	if len(wp) != len(hp) {
		return false
	}
	for i := range wp {
		if wp[i].Code != hp[i].Code {
			return false
		}
		wv, _ := want.ValueForProtocol(wp[i].Code)
		hv, _ := have.ValueForProtocol(hp[i].Code)
		isPort := wp[i].Code == multiaddr.P_TCP || wp[i].Code == multiaddr.P_UDP
		if wv != hv && !(isPort && wv == "0") {
			return false
		}
	}
	return true
}
