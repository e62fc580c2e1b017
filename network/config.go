package network

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/crypto"
)

// Protocol ids. The version is part of the id so an incompatible frame
// format can be introduced next to the old one during a rolling upgrade.
const (
	ReplicaProtocol protocol.ID = "/bulwark/replica/1.0.0"
	ClientProtocol  protocol.ID = "/bulwark/client/1.0.0"
)

// Defaults for zero Config fields.
const (
	DefaultMaxFrameSize    = 16 << 20
	DefaultQueueSize       = 1024
	DefaultClientQueueSize = 256
	// DefaultClientFramesPerSecond and DefaultClientBytesPerSecond pace
	// what a replica reads from one client stream (Config).
	DefaultClientFramesPerSecond = 10_000
	DefaultClientBytesPerSecond  = 16 << 20
	// DefaultMaxClientFrameSize bounds a frame from a client: a request
	// holds at most one operation (pbft.DefaultMaxOperationSize, 1 MiB) and
	// about 150 bytes around it; twice that leaves room without letting a
	// client send what only replicas need (16 MiB state chunks).
	DefaultMaxClientFrameSize = 2 << 20
	// The inbound frame budget, 64 MiB in all by default, a small part of
	// a replica's 256 MiB memory ceiling: 48 MiB for frames from replicas
	// (each replica at most one MaxFrameSize, so the three others of a
	// four-replica cluster can each be reading a largest frame at once,
	// whatever a faulty one does), 16 MiB for frames from clients (each at
	// most one MaxClientFrameSize: eight largest requests at once). See
	// frameBudget.
	DefaultReplicaFrameBudget = 48 << 20
	DefaultClientFrameBudget  = 16 << 20
)

// Timings. Replicas may be continents apart, so dial and write timeouts are
// generous; the backoff cap bounds how long a restarted peer waits to be
// reconnected to.
const (
	backoffMin   = 50 * time.Millisecond
	backoffMax   = 5 * time.Second
	dialTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	// stableAfter is how long a stream must have lived for its end to reset
	// the backoff: a peer that accepts and then immediately drops us is
	// retried at a falling rate, not every 50 ms.
	stableAfter = 2 * time.Second
)

// Peer is a replica's entry in the cluster: its id, libp2p peer id (see
// PeerIDOf) and the addresses it listens on.
type Peer struct {
	ID     uint32
	PeerID peer.ID
	Addrs  []multiaddr.Multiaddr
}

// Config configures a ReplicaHost.
type Config struct {
	// Key is the replica's signing key, also its libp2p identity.
	Key *crypto.PrivateKey
	// ListenAddrs are multiaddrs to listen on, TCP and/or QUIC, e.g.
	// /ip4/0.0.0.0/tcp/9000 and /ip4/0.0.0.0/udp/9000/quic-v1.
	ListenAddrs []string
	// Self is this replica's id; it must appear in Replicas with the peer id
	// of Key.
	Self uint32
	// Replicas is the whole cluster, Self included.
	Replicas []Peer
	// MaxFrameSize bounds one encoded message, in and out (default 16 MiB).
	// Frames from clients are bounded by MaxClientFrameSize instead.
	MaxFrameSize int
	// MaxClientFrameSize bounds one frame from a client (default 2 MiB, or
	// MaxFrameSize if smaller; at most MaxFrameSize, since the requests a
	// client sends travel on in pre-prepares). It must hold the largest
	// request the replicas accept (pbft.Config.MaxOperationSize plus about
	// 150 bytes). Replies to clients are bounded by MaxFrameSize.
	MaxClientFrameSize int
	// ReplicaFrameBudget bounds the bytes of frames from replicas being
	// read, decoded or handed to Inbound at once (default 48 MiB, or
	// MaxFrameSize if larger); each replica may hold at most MaxFrameSize
	// of it. A frame that cannot get its bytes within a short wait is
	// dropped and its stream reset (Dropped[DropFrameBudget]).
	ReplicaFrameBudget int
	// ClientFrameBudget is the same for frames from clients (default
	// 16 MiB, or MaxClientFrameSize if larger); each client may hold at
	// most MaxClientFrameSize of it. Clients draw on their own pool, so no
	// number of clients can starve the replicas.
	ClientFrameBudget int
	// QueueSize bounds each replica's send queue, in messages (default 1024).
	QueueSize int
	// ClientQueueSize bounds each client stream's reply queue (default 256):
	// there may be many clients, and replies are retransmitted on request.
	ClientQueueSize int
	// ClientFramesPerSecond and ClientBytesPerSecond bound what the replica
	// reads from one client stream (defaults 10,000 frames and 16 MiB per
	// second): past them it stops reading and the stream's flow control
	// slows the client, so a flooding client (of Status queries, of large
	// requests) costs the replica at most its rate in decoding, copying and
	// checking, and leaves the rest to others.
	ClientFramesPerSecond, ClientBytesPerSecond int
	// Clients, if not nil, are the only client keys admitted: any other
	// client is refused at the connection. Nil admits every client (a
	// testnet); the caller says so loudly.
	Clients []crypto.PublicKey
	// Logger receives connection events and rate-limited drop reports
	// (default slog.Default()).
	Logger *slog.Logger

	admitted admission // from Clients, by withDefaults
	timings  timings   // zero: defaults; tests shorten them
}

// withDefaults fills zero fields and checks the rest, naming the field at
// fault so a bad cluster file fails with one clear line.
func (c Config) withDefaults() (Config, error) {
	var err error
	if c.Key == nil {
		return c, fmt.Errorf("network: Config.Key is nil")
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxFrameSize < 0 || c.MaxFrameSize > 1<<30 {
		return c, fmt.Errorf("network: Config.MaxFrameSize %d out of range (0, 1 GiB]", c.MaxFrameSize)
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.QueueSize < 0 {
		return c, fmt.Errorf("network: Config.QueueSize %d is negative", c.QueueSize)
	}
	if c.ClientQueueSize == 0 {
		c.ClientQueueSize = DefaultClientQueueSize
	}
	if c.ClientQueueSize < 0 {
		return c, fmt.Errorf("network: Config.ClientQueueSize %d is negative", c.ClientQueueSize)
	}
	if err = c.budgetDefaults(); err != nil {
		return c, err
	}
	if c.admitted, err = newAdmission(c.Clients); err != nil {
		return c, err
	}
	c.timings = c.timings.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.ListenAddrs) == 0 {
		return c, fmt.Errorf("network: Config.ListenAddrs is empty")
	}
	self, err := PeerIDOf(c.Key.PublicKey())
	if err != nil {
		return c, err
	}
	if err := checkPeers(c.Replicas); err != nil {
		return c, err
	}
	found := false
	for _, p := range c.Replicas {
		if p.ID == c.Self {
			if p.PeerID != self {
				return c, fmt.Errorf("network: Config.Replicas entry %d has peer id %s, but Config.Key's is %s", p.ID, p.PeerID, self)
			}
			found = true
		}
	}
	if !found {
		return c, fmt.Errorf("network: Config.Self %d is not in Config.Replicas", c.Self)
	}
	return c, nil
}

// budgetDefaults fills and checks the client frame limit and the two pools
// of the frame budget; MaxFrameSize is already checked.
func (c *Config) budgetDefaults() error {
	if c.MaxClientFrameSize == 0 {
		c.MaxClientFrameSize = min(DefaultMaxClientFrameSize, c.MaxFrameSize)
	}
	if c.ClientFramesPerSecond == 0 {
		c.ClientFramesPerSecond = DefaultClientFramesPerSecond
	}
	if c.ClientBytesPerSecond == 0 {
		c.ClientBytesPerSecond = DefaultClientBytesPerSecond
	}
	if c.ClientFramesPerSecond < 0 || c.ClientBytesPerSecond < 0 {
		return fmt.Errorf("network: Config.ClientFramesPerSecond %d and ClientBytesPerSecond %d must be positive", c.ClientFramesPerSecond, c.ClientBytesPerSecond)
	}
	if c.MaxClientFrameSize < 0 || c.MaxClientFrameSize > c.MaxFrameSize {
		return fmt.Errorf("network: Config.MaxClientFrameSize %d out of range (0, MaxFrameSize %d]", c.MaxClientFrameSize, c.MaxFrameSize)
	}
	if c.ReplicaFrameBudget == 0 {
		c.ReplicaFrameBudget = max(DefaultReplicaFrameBudget, c.MaxFrameSize)
	}
	if c.ReplicaFrameBudget < c.MaxFrameSize {
		return fmt.Errorf("network: Config.ReplicaFrameBudget %d is below MaxFrameSize %d: a largest frame could never be read", c.ReplicaFrameBudget, c.MaxFrameSize)
	}
	if c.ClientFrameBudget == 0 {
		c.ClientFrameBudget = max(DefaultClientFrameBudget, c.MaxClientFrameSize)
	}
	if c.ClientFrameBudget < c.MaxClientFrameSize {
		return fmt.Errorf("network: Config.ClientFrameBudget %d is below MaxClientFrameSize %d: a largest client frame could never be read", c.ClientFrameBudget, c.MaxClientFrameSize)
	}
	return nil
}

// checkPeers rejects duplicate ids or peer ids: either would route one
// replica's traffic to another.
func checkPeers(peers []Peer) error {
	ids := make(map[uint32]bool, len(peers))
	pids := make(map[peer.ID]bool, len(peers))
	for _, p := range peers {
		if ids[p.ID] {
			return fmt.Errorf("network: replica id %d listed twice", p.ID)
		}
		if p.PeerID == "" {
			return fmt.Errorf("network: replica %d has no peer id", p.ID)
		}
		if err := p.PeerID.Validate(); err != nil {
			return fmt.Errorf("network: replica %d peer id: %w", p.ID, err)
		}
		if pids[p.PeerID] {
			return fmt.Errorf("network: peer id %s listed twice", p.PeerID)
		}
		ids[p.ID], pids[p.PeerID] = true, true
	}
	return nil
}
