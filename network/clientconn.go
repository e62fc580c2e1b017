package network

import (
	"slices"

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

// maxStreamsPerKey bounds the open streams of one client key (processes
// sharing the key, or one reconnecting), each holding a reply queue.
const maxStreamsPerKey = 8

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
	// Several processes may share one client key, each with its own
	// stream: replies for the key go to every one of them (each process
	// keeps the replies of its own sessions). Past maxStreamsPerKey the
	// oldest is closed: a reconnecting client's old stream may not have
	// been noticed dead yet.
	ccs := append(h.clients[string(key)], cc)
	var oldest *clientConn
	if len(ccs) > maxStreamsPerKey {
		oldest, ccs = ccs[0], ccs[1:]
	}
	h.clients[string(key)] = ccs
	h.clientsMu.Unlock()
	if oldest != nil {
		_ = oldest.s.Reset()
	}
	defer func() {
		h.clientsMu.Lock()
		rest := slices.DeleteFunc(slices.Clone(h.clients[string(key)]), func(o *clientConn) bool { return o == cc })
		if len(rest) == 0 {
			delete(h.clients, string(key))
		} else {
			h.clients[string(key)] = rest
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
