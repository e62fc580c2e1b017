package network

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Connection churn must not leave memory behind. Our own per-client state
// (the reply route in clients, the stream in streams, budget entries) goes
// when its stream ends. libp2p's peerstore, though, keeps what it learnt of
// every peer that ever connected: its public key, protocols and agent
// version for good, its addresses for 15 minutes. A flood of fresh client
// keys thus grew a replica's memory for each key, for ever. A replica needs
// nothing of a departed client (a client's key is inside its peer id, and
// the replica never dials it), so the peerstore forgets it on disconnect.
//
// Identify may still be recording a peer when its last connection closes,
// and notifiees run in no fixed order, so the disconnect hook can miss what
// arrives just after it; a sweep every sweepEvery, run on the two ticks
// after some client left (so at least one whole interval after it), catches
// those.

// forgetDepartedClients registers the disconnect hook and starts the sweep.
func (h *ReplicaHost) forgetDepartedClients() {
	var departed atomic.Bool
	h.host.Network().Notify(&network.NotifyBundle{DisconnectedF: func(_ network.Network, c network.Conn) {
		if h.forget(c.RemotePeer()) {
			departed.Store(true)
		}
	}})
	h.spawn(func() {
		t := time.NewTicker(h.timings.sweepEvery)
		defer t.Stop()
		previous := false
		for {
			select {
			case <-t.C:
				now := departed.Swap(false)
				if now || previous {
					h.sweepPeerstore()
				}
				previous = now
			case <-h.ctx.Done():
				return
			}
		}
	})
}

// forget removes a client peer from the peerstore unless it is still (or
// again) connected; replicas and the host itself are kept. It reports
// whether p was a client.
func (h *ReplicaHost) forget(p peer.ID) bool {
	if _, replica := h.ids[p]; replica || p == h.host.ID() {
		return false
	}
	if h.host.Network().Connectedness(p) == network.Connected {
		return true
	}
	ps := h.host.Peerstore()
	ps.RemovePeer(p) // keys, protocols, metadata, metrics
	ps.ClearAddrs(p) // RemovePeer leaves addresses and signed records
	return true
}

// sweepPeerstore forgets every client the peerstore still holds that is no
// longer connected.
func (h *ReplicaHost) sweepPeerstore() {
	for _, p := range h.host.Peerstore().Peers() {
		h.forget(p)
	}
}
