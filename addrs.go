package bulwark

import (
	"fmt"
	"strings"

	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/network"
)

// checkSharedAddrs refuses two replicas listening where one socket is: the
// same host and TCP or UDP port, whatever runs above it (/tcp/9000 and
// /tcp/9000/ws are one TCP socket, /udp/9000/quic and /udp/9000/quic-v1 one
// UDP socket). Both cannot listen there, and a dialer would reach whichever
// did, which then refuses to be the other: a typo that only shows as a
// replica nobody can reach. One replica may listen on one socket twice
// (QUIC and WebTransport share a UDP port) but not list an address twice.
func checkSharedAddrs(peers []network.Peer) error {
	type where struct{ replica, addr int }
	seen := make(map[string]where)
	for _, p := range peers {
		own := make(map[string]int, len(p.Addrs))
		for j, a := range p.Addrs {
			if k, dup := own[a.String()]; dup {
				return fmt.Errorf("replicas[%d].addrs[%d]: same as replicas[%d].addrs[%d]", p.ID, j, p.ID, k)
			}
			own[a.String()] = j
			sock := socketOf(a)
			if w, dup := seen[sock]; dup && w.replica != int(p.ID) {
				return fmt.Errorf("replicas[%d].addrs[%d]: %s is where replicas[%d].addrs[%d] listens too",
					p.ID, j, sock, w.replica, w.addr)
			}
			seen[sock] = where{int(p.ID), j}
		}
	}
	return nil
}

// socketOf is the part of a that names a socket: everything up to its
// first TCP or UDP port, e.g. /ip4/10.0.0.1/udp/9000 of
// /ip4/10.0.0.1/udp/9000/quic-v1, in lower case (DNS names are
// case-insensitive). An address with no such port is taken whole.
func socketOf(a multiaddr.Multiaddr) string {
	for i, c := range a {
		if code := c.Code(); code == multiaddr.P_TCP || code == multiaddr.P_UDP {
			return strings.ToLower(a[:i+1].String())
		}
	}
	return strings.ToLower(a.String())
}
