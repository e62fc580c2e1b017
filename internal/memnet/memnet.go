// Package memnet is an in-memory Transport for running clusters of real
// drivers inside one test process. Every message is encoded and decoded, as
// on a real wire, so no two goroutines share a message; each endpoint's
// inbox is bounded and drops when full, as a slow peer's queue would.
package memnet

import (
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// InboxSize bounds each endpoint's queue of undelivered messages.
const InboxSize = 4096

// MaxFrameSize is the largest encoded message delivered, as on the real
// transport (network.DefaultMaxFrameSize): a larger one is dropped and
// counted, never delivered.
const MaxFrameSize = 16 << 20

// Network connects replica and client endpoints.
type Network struct {
	mu       sync.RWMutex
	replicas map[uint32]*Endpoint
	clients  map[string]*Endpoint
	dropped  atomic.Uint64
	oversize atomic.Uint64
}

// New makes an empty network.
func New() *Network {
	return &Network{replicas: make(map[uint32]*Endpoint), clients: make(map[string]*Endpoint)}
}

// Endpoint is one party's attachment to the network; it implements
// pbft.Transport.
type Endpoint struct {
	net   *Network
	from  pbft.From
	inbox chan pbft.Inbound
	once  sync.Once
}

var _ pbft.Transport = (*Endpoint)(nil)

// Replica attaches replica id, replacing an earlier attachment (a restart).
func (n *Network) Replica(id uint32) *Endpoint {
	e := &Endpoint{net: n, from: pbft.FromReplica(id), inbox: make(chan pbft.Inbound, InboxSize)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.replicas[id]; old != nil {
		old.close()
	}
	n.replicas[id] = e
	return e
}

// Client attaches the client holding key.
func (n *Network) Client(key []byte) *Endpoint {
	e := &Endpoint{net: n, from: pbft.FromClient(key), inbox: make(chan pbft.Inbound, InboxSize)}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.clients[string(key)] = e
	return e
}

// Detach removes replica id, as if it crashed: its inbox closes.
func (n *Network) Detach(id uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.replicas[id]; e != nil {
		e.close()
		delete(n.replicas, id)
	}
}

// Dropped counts messages dropped because an inbox was full, its owner
// gone, or the message larger than a frame.
func (n *Network) Dropped() uint64 { return n.dropped.Load() }

// Oversize counts messages dropped for being larger than MaxFrameSize.
func (n *Network) Oversize() uint64 { return n.oversize.Load() }

func (e *Endpoint) close() { e.once.Do(func() { close(e.inbox) }) }

// Send delivers m to replica id.
func (e *Endpoint) Send(id uint32, m *wire.Message) {
	e.net.mu.RLock()
	to := e.net.replicas[id]
	e.net.mu.RUnlock()
	e.net.deliver(e.from, to, m)
}

// SendClient delivers m to the client holding key.
func (e *Endpoint) SendClient(key string, m *wire.Message) {
	e.net.mu.RLock()
	to := e.net.clients[key]
	e.net.mu.RUnlock()
	e.net.deliver(e.from, to, m)
}

// Inbound yields what others sent to this endpoint.
func (e *Endpoint) Inbound() <-chan pbft.Inbound { return e.inbox }

func (n *Network) deliver(from pbft.From, to *Endpoint, m *wire.Message) {
	if to == nil {
		n.countDrop()
		return
	}
	data, err := proto.Marshal(m)
	if err != nil {
		n.countDrop()
		return
	}
	if len(data) > MaxFrameSize {
		n.oversize.Add(1)
		n.countDrop()
		return
	}
	copyOf := &wire.Message{}
	if err := proto.Unmarshal(data, copyOf); err != nil {
		n.countDrop()
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	// Under the read lock the endpoint cannot be closed while we send.
	if n.replicas[replicaID(to)] != to && n.clients[to.from.Client] != to {
		n.dropped.Add(1)
		return
	}
	select {
	case to.inbox <- pbft.Inbound{From: from, Msg: copyOf}:
	default:
		n.dropped.Add(1)
	}
}

func replicaID(e *Endpoint) uint32 {
	if e.from.Replica < 0 {
		return ^uint32(0)
	}
	return uint32(e.from.Replica)
}

func (n *Network) countDrop() { n.dropped.Add(1) }
