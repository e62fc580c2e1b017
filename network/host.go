package network

import (
	"context"
	"golang.org/x/time/rate"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// ReplicaHost is a replica's libp2p endpoint; it implements pbft.Transport.
type ReplicaHost struct {
	*core
	cfg   Config
	ids   map[peer.ID]uint32 // every other replica's peer id → replica id
	links map[uint32]*link   // immutable after construction

	clientsMu sync.Mutex
	clients   map[string][]*clientConn // by client public key, oldest first
}

var _ pbft.Transport = (*ReplicaHost)(nil)

// NewReplicaHost starts listening and connecting to the other replicas.
// Cancelling ctx stops the host's goroutines; Close must still be called.
func NewReplicaHost(ctx context.Context, cfg Config) (*ReplicaHost, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sk, err := libp2pKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	h := &ReplicaHost{
		core:    newCore(ctx, cfg.Logger, cfg.MaxFrameSize, cfg.timings),
		cfg:     cfg,
		ids:     make(map[peer.ID]uint32, len(cfg.Replicas)),
		links:   make(map[uint32]*link, len(cfg.Replicas)),
		clients: make(map[string][]*clientConn),
	}
	h.fromReplicas = streamKind{max: cfg.MaxFrameSize, budget: newFrameBudget(cfg.ReplicaFrameBudget, cfg.MaxFrameSize), buffer: readBuffer}
	h.fromClients = streamKind{max: cfg.MaxClientFrameSize, budget: newFrameBudget(cfg.ClientFrameBudget, cfg.MaxClientFrameSize), buffer: clientReadBuffer,
		rate: func() *streamRate {
			return &streamRate{
				frames: rate.NewLimiter(rate.Limit(cfg.ClientFramesPerSecond), max(1, cfg.ClientFramesPerSecond/10)),
				bytes:  rate.NewLimiter(rate.Limit(cfg.ClientBytesPerSecond), max(cfg.MaxClientFrameSize, cfg.ClientBytesPerSecond/10)),
			}
		}}
	g := &gater{replicas: make(map[peer.ID]uint32, len(cfg.Replicas)), acceptClients: true, clients: cfg.admitted, stats: h.stats}
	for _, p := range cfg.Replicas {
		g.replicas[p.PeerID] = p.ID
		if p.ID == cfg.Self {
			g.self = p.PeerID
		} else {
			h.ids[p.PeerID] = p.ID
		}
	}
	if err := newLibp2pHost(h.core, libp2p.Identity(sk), libp2p.ListenAddrStrings(cfg.ListenAddrs...), g); err != nil {
		h.cancel()
		return nil, err
	}
	if err := checkListening(cfg.ListenAddrs, h.host.Network().ListenAddresses()); err != nil {
		_ = h.close()
		return nil, err
	}
	h.host.SetStreamHandler(ReplicaProtocol, h.handleReplicaStream)
	h.host.SetStreamHandler(ClientProtocol, h.handleClientStream)
	h.forgetDepartedClients()

	for _, p := range cfg.Replicas {
		if p.ID == cfg.Self {
			continue
		}
		h.host.Peerstore().AddAddrs(p.PeerID, p.Addrs, peerstore.PermanentAddrTTL)
		// Replica connections must survive the connection manager's trimming
		// when many clients are connected.
		h.host.ConnManager().Protect(p.PeerID, "bulwark-replica")
		h.links[p.ID] = &link{
			c:     h.core,
			id:    p.ID,
			pid:   p.PeerID,
			proto: ReplicaProtocol,
			q:     newSendQueue(cfg.QueueSize, cfg.MaxFrameSize),
			read:  h.watchOutbound,
		}
	}
	for _, l := range h.links {
		h.spawn(l.run)
	}
	h.log.Info("network: replica host started", "replica", cfg.Self, "peer", h.host.ID(), "addrs", h.host.Addrs(),
		"clients_admitted", admittedCount(cfg.admitted))
	return h, nil
}

// ID is the host's libp2p peer id.
func (h *ReplicaHost) ID() peer.ID { return h.host.ID() }

// Addrs are the addresses the host listens on (with actual ports when the
// configuration asked for port 0).
func (h *ReplicaHost) Addrs() []multiaddr.Multiaddr { return h.host.Addrs() }

// Send queues m for replica id and returns at once; a full queue drops it.
func (h *ReplicaHost) Send(id uint32, m *wire.Message) { h.sendToReplica(h.links, id, m) }

// SendClient queues m on the stream of the client holding key, if it has one.
func (h *ReplicaHost) SendClient(key string, m *wire.Message) {
	h.clientsMu.Lock()
	ccs := h.clients[key] // never modified in place: a copy is safe to range over
	h.clientsMu.Unlock()
	if len(ccs) == 0 {
		h.stats.drop(DropNoClientStream, "no open stream for client, dropping reply")
		return
	}
	frame, ok := h.encode(m)
	if !ok {
		return
	}
	for _, cc := range ccs {
		if !cc.q.push(frame) {
			h.stats.drop(DropQueueFull, "client queue full, dropping reply", "peer", cc.s.Conn().RemotePeer())
		}
	}
}

// Inbound yields received messages; it is closed by Close.
func (h *ReplicaHost) Inbound() <-chan pbft.Inbound { return h.inbound }

// Stats returns a snapshot of the counters and connections.
func (h *ReplicaHost) Stats() Stats {
	s := h.stats.snapshot()
	for id, l := range h.links {
		if l.connected.Load() {
			s.Connected = append(s.Connected, id)
		}
	}
	slices.Sort(s.Connected)
	h.clientsMu.Lock()
	s.ClientStreams = len(h.clients)
	h.clientsMu.Unlock()
	s.FrameBudget = h.budgetStats()
	return s
}

// Close stops every goroutine, closes the libp2p host and then Inbound.
func (h *ReplicaHost) Close() error { return h.close() }

// handleReplicaStream reads a replica's stream. The remote peer id was
// authenticated by the secure channel, so it names the sender; a peer id not
// in the cluster may not speak this protocol at all.
func (h *ReplicaHost) handleReplicaStream(s network.Stream) {
	pid := s.Conn().RemotePeer()
	id, ok := h.ids[pid]
	if !ok {
		h.stats.drop(DropUnknownPeer, "replica protocol stream from a peer not in the cluster", "peer", pid)
		_ = s.Reset()
		return
	}
	if !h.track(s, true) {
		return
	}
	defer h.untrack(s, true)
	h.readLoop(s, pbft.FromReplica(id), h.fromReplicas)
}

// watchOutbound reads our outbound replica stream only to learn when it dies
// (peer restarted, stream reset): the link then reconnects at once instead of
// on its next failed write. The peer never writes on it; if it does, that is
// a protocol violation.
func (h *ReplicaHost) watchOutbound(s network.Stream) {
	var b [1]byte
	if n, _ := s.Read(b[:]); n > 0 {
		h.stats.drop(DropMalformed, "replica wrote on a stream it should only read", "peer", s.Conn().RemotePeer())
	}
}
