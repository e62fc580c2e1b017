package network

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Fixed resource budget. libp2p's default scales limits to the machine's
// memory and file descriptors; a replica's limits should not change with the
// box it happens to run on, so the default table is scaled once, to these
// constants.
const (
	limitMemory = 1 << 30 // bytes libp2p may reserve (muxer windows, buffers)
	limitFDs    = 4096
)

// newResourceManager builds the resource manager with fixed limits, plus
// per-protocol limits for Bulwark's two protocols: a replica needs only a
// few streams to each peer, a client one per replica; a burst of clients is
// capped protocol-wide.
func newResourceManager() (network.ResourceManager, error) {
	cfg := rcmgr.DefaultLimits // a copy; its maps are nil, so the global is untouched
	libp2p.SetDefaultServiceLimits(&cfg)
	cfg.AddProtocolLimit(ReplicaProtocol,
		rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 512, Memory: 256 << 20},
		rcmgr.BaseLimitIncrease{})
	cfg.AddProtocolPeerLimit(ReplicaProtocol,
		rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 64 << 20},
		rcmgr.BaseLimitIncrease{})
	cfg.AddProtocolLimit(ClientProtocol,
		rcmgr.BaseLimit{StreamsInbound: 4096, StreamsOutbound: 256, Streams: 4096, Memory: 256 << 20},
		rcmgr.BaseLimitIncrease{})
	cfg.AddProtocolPeerLimit(ClientProtocol,
		rcmgr.BaseLimit{StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 32 << 20},
		rcmgr.BaseLimitIncrease{})
	limits := cfg.Scale(limitMemory, limitFDs)
	// Metrics off: they register with Prometheus' global registry, which
	// several hosts in one process (tests, a client in a replica) would share.
	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("network: resource manager: %w", err)
	}
	return mgr, nil
}
