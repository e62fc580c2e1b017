package network

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// ClientHost is a client's libp2p endpoint: one stream per replica on the
// client protocol, requests out and replies back on it. It implements
// pbft.Transport for driver.Client.
type ClientHost struct {
	*core
	links map[uint32]*link // immutable after construction
}

var _ pbft.Transport = (*ClientHost)(nil)

// ClientOption adjusts a ClientHost.
type ClientOption func(*clientOptions)

type clientOptions struct {
	log       *slog.Logger
	maxFrame  int
	maxSend   int
	budget    int
	queueSize int
	listen    []string
	timings   timings
}

// WithLogger sets the client host's logger (default slog.Default()).
func WithLogger(l *slog.Logger) ClientOption { return func(o *clientOptions) { o.log = l } }

// WithMaxFrameSize bounds a frame in and out (default 16 MiB); frames out
// are also bounded by WithMaxClientFrameSize.
func WithMaxFrameSize(n int) ClientOption { return func(o *clientOptions) { o.maxFrame = n } }

// WithMaxClientFrameSize bounds the frames the client sends (default 2 MiB,
// DefaultMaxClientFrameSize, or the max frame size if smaller). It should
// match the replicas' Config.MaxClientFrameSize: a larger request is then
// dropped at Send and counted (DropFrameTooLarge), instead of being sent
// only for every replica to reset the stream.
func WithMaxClientFrameSize(n int) ClientOption { return func(o *clientOptions) { o.maxSend = n } }

// WithFrameBudget bounds the bytes of replies being read at once from all
// replicas (default 48 MiB, DefaultReplicaFrameBudget, or the max frame
// size if larger); each replica may hold at most one max frame of it, so a
// faulty replica cannot make the client hold more.
func WithFrameBudget(n int) ClientOption { return func(o *clientOptions) { o.budget = n } }

// WithQueueSize bounds each replica's send queue (default 1024 messages).
func WithQueueSize(n int) ClientOption { return func(o *clientOptions) { o.queueSize = n } }

// WithListenAddrs makes the client listen (default: nowhere; a client only
// dials, and replies come back on its own streams).
func WithListenAddrs(addrs ...string) ClientOption {
	return func(o *clientOptions) { o.listen = addrs }
}

// NewClientHost connects the client holding key to replicas. Connections are
// made in the background, with backoff, and remade when they break.
func NewClientHost(ctx context.Context, key *crypto.PrivateKey, replicas []Peer, opts ...ClientOption) (*ClientHost, error) {
	o := clientOptions{log: slog.Default(), maxFrame: DefaultMaxFrameSize, queueSize: DefaultQueueSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxFrame <= 0 || o.maxFrame > 1<<30 {
		return nil, fmt.Errorf("network: client max frame size %d out of range (0, 1 GiB]", o.maxFrame)
	}
	if o.maxSend == 0 {
		o.maxSend = min(DefaultMaxClientFrameSize, o.maxFrame)
	}
	if o.maxSend < 0 || o.maxSend > o.maxFrame {
		return nil, fmt.Errorf("network: client max client frame size %d out of range (0, max frame size %d]", o.maxSend, o.maxFrame)
	}
	if o.budget == 0 {
		o.budget = max(DefaultReplicaFrameBudget, o.maxFrame)
	}
	if o.budget < o.maxFrame {
		return nil, fmt.Errorf("network: client frame budget %d is below the max frame size %d: a largest reply could never be read", o.budget, o.maxFrame)
	}
	if o.queueSize <= 0 {
		return nil, fmt.Errorf("network: client queue size %d must be positive", o.queueSize)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if err := checkPeers(replicas); err != nil {
		return nil, err
	}
	sk, err := libp2pKey(key)
	if err != nil {
		return nil, err
	}
	h := &ClientHost{core: newCore(ctx, o.log, o.maxSend, o.timings.withDefaults()), links: make(map[uint32]*link, len(replicas))}
	h.fromReplicas = streamKind{max: o.maxFrame, budget: newFrameBudget(o.budget, o.maxFrame), buffer: readBuffer}
	g := &gater{replicas: make(map[peer.ID]uint32, len(replicas))}
	for _, p := range replicas {
		g.replicas[p.PeerID] = p.ID
	}
	listen := libp2p.NoListenAddrs
	if len(o.listen) > 0 {
		listen = libp2p.ListenAddrStrings(o.listen...)
	}
	if err := newLibp2pHost(h.core, libp2p.Identity(sk), listen, g); err != nil {
		h.cancel()
		return nil, err
	}
	for _, p := range replicas {
		h.host.Peerstore().AddAddrs(p.PeerID, p.Addrs, peerstore.PermanentAddrTTL)
		h.links[p.ID] = &link{
			c:     h.core,
			id:    p.ID,
			pid:   p.PeerID,
			proto: ClientProtocol,
			q:     newSendQueue(o.queueSize, o.maxSend),
			read:  h.readReplies(p.ID),
		}
	}
	for _, l := range h.links {
		h.spawn(l.run)
	}
	return h, nil
}

// readReplies returns the link reader for replica id: replies arrive on the
// stream the client opened, so the sender is that replica.
func (h *ClientHost) readReplies(id uint32) func(network.Stream) {
	return func(s network.Stream) { h.readLoop(s, pbft.FromReplica(id), h.fromReplicas) }
}

// ID is the client's libp2p peer id.
func (h *ClientHost) ID() peer.ID { return h.host.ID() }

// Send queues m for replica id and returns at once; a full queue drops it.
func (h *ClientHost) Send(id uint32, m *wire.Message) { h.sendToReplica(h.links, id, m) }

// SendClient drops m: clients do not talk to clients.
func (h *ClientHost) SendClient(string, *wire.Message) {
	h.stats.drop(DropNoClientStream, "client host cannot send to clients")
}

// Inbound yields replies; it is closed by Close.
func (h *ClientHost) Inbound() <-chan pbft.Inbound { return h.inbound }

// Stats returns a snapshot of the counters and connections.
func (h *ClientHost) Stats() Stats {
	s := h.stats.snapshot()
	for id, l := range h.links {
		if l.connected.Load() {
			s.Connected = append(s.Connected, id)
		}
	}
	slices.Sort(s.Connected)
	s.FrameBudget = h.budgetStats()
	return s
}

// Close stops every goroutine, closes the libp2p host and then Inbound.
func (h *ClientHost) Close() error { return h.close() }
