package network

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// gater decides at the connection level, before any protocol is spoken, who
// may connect. A connection cannot tell which protocol its streams will use,
// so the replica-only rule for /bulwark/replica is enforced again per stream
// (see handleReplicaStream); the gater keeps out what can never be useful:
// dials to anyone but cluster replicas, inbound peers whose identity is not
// an ed25519 key (no replica, and no client we could route replies to), and
// clients the cluster file does not admit.
type gater struct {
	replicas map[peer.ID]uint32
	self     peer.ID
	// acceptClients admits inbound connections from non-replicas (replica
	// hosts: clients connect to them). A client host admits replicas only.
	acceptClients bool
	// clients are the clients admitted (nil: all); stats counts and logs
	// the others (replica hosts only).
	clients admission
	stats   *counters
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) isReplica(p peer.ID) bool {
	_, ok := g.replicas[p]
	return ok && p != g.self
}

// InterceptPeerDial: we only ever dial other replicas.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.isReplica(p) }

// InterceptAddrDial: same rule, checked again per address.
func (g *gater) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return g.isReplica(p) }

// InterceptAccept lets the handshake run: the remote identity is unknown
// until the secure channel is up; the resource manager bounds how many such
// connections may be in flight.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured sees the authenticated remote peer id.
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if g.isReplica(p) {
		return true
	}
	if dir != network.DirInbound || !g.acceptClients {
		return false
	}
	if _, err := ed25519KeyOf(p); err != nil {
		return false
	}
	if !g.clients.admits(p) {
		g.stats.drop(DropClientNotAdmitted, "refusing connection from a client not in the cluster's client list", "peer", p)
		return false
	}
	return true
}

// InterceptUpgraded has nothing left to decide.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
