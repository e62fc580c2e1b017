package network

import (
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/bulwark-bft/bulwark/pbft"
)

// clientConn is a client's open stream on a replica host: requests are read
// from it in the stream handler's goroutine, replies are written by a writer
// goroutine from a bounded queue, so a slow client never blocks SendClient.
type clientConn struct {
	s network.Stream
	q *sendQueue
}

// handleClientStream serves one client stream. The client's identity is the
// ed25519 key inside its authenticated peer id: requests are attributed to
// it, and replies for that key go back on this stream.
func (h *ReplicaHost) handleClientStream(s network.Stream) {
	pid := s.Conn().RemotePeer()
	key, err := ed25519KeyOf(pid)
	if err != nil { // the gater admits only ed25519 peers; kept as a backstop
		h.stats.drop(DropUnknownPeer, "client stream from a peer without an ed25519 key", "peer", pid, "err", err)
		_ = s.Reset()
		return
	}
	if _, replica := h.ids[pid]; !replica && !h.cfg.admitted.admits(pid) { // the gater refuses these first; kept as a backstop
		h.stats.drop(DropClientNotAdmitted, "client stream from a client not in the cluster's client list", "peer", pid)
		_ = s.Reset()
		return
	}
	if !h.track(s, true) {
		return
	}
	defer h.untrack(s, true)

	cc := &clientConn{s: s, q: newSendQueue(h.cfg.ClientQueueSize, h.cfg.MaxFrameSize)}
	h.clientsMu.Lock()
	// The newest stream wins: a reconnecting client's old stream may not have
	// been noticed dead yet.
	h.clients[string(key)] = cc
	h.clientsMu.Unlock()
	defer func() {
		h.clientsMu.Lock()
		if h.clients[string(key)] == cc {
			delete(h.clients, string(key))
		}
		h.clientsMu.Unlock()
	}()

	dead := make(chan struct{})
	writerDone := make(chan struct{})
	if !h.spawn(func() {
		defer close(writerDone)
		if failed := h.pump(s, cc.q, dead, nil); failed != nil {
			h.stats.drop(DropSendFailed, "reply write failed", "peer", pid)
		}
		_ = s.Reset() // a failed write ends the reader too
	}) {
		_ = s.Reset()
		return
	}
	h.readLoop(s, pbft.FromClient(key), h.fromClients)
	close(dead)
	<-writerDone
}
