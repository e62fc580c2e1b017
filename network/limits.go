package network

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
)

// Fixed resource budget. libp2p's default scales limits to the machine's
// memory and file descriptors; a replica's limits should not change with the
// box it happens to run on, so the default table is scaled once, to these
// constants.
const (
	limitMemory = 1 << 30 // bytes libp2p may reserve (muxer windows, buffers)
	limitFDs    = 4096
	// perIPConns bounds the open connections from one IPv4 address, and
	// perIPRate and perIPBurst how fast new ones may come. libp2p's
	// defaults (8 at once, a burst of 16, then one every 5 s) suit a public
	// DHT node; a replica's clients are an organisation's application
	// servers, often many processes behind one address, and an operator
	// scripting `bulwark client` opens one connection per call.
	systemConns = 2048
	perIPConns  = 512
	perIPRate   = 50
	perIPBurst  = 256
)

// countingManager counts the connections the resource manager admits and
// refuses (a rate, a per-IP or a total limit), which libp2p does silently:
// a connection flood must show in a metric.
type countingManager struct {
	network.ResourceManager
	admitted, refused *atomic.Uint64
}

func (m countingManager) OpenConnection(dir network.Direction, usefd bool, endpoint multiaddr.Multiaddr) (network.ConnManagementScope, error) {
	scope, err := m.ResourceManager.OpenConnection(dir, usefd, endpoint)
	switch {
	case err != nil && dir == network.DirInbound:
		m.refused.Add(1)
	case err == nil && dir == network.DirInbound:
		m.admitted.Add(1)
	}
	return scope, err
}

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
	// The scaled default admits 128 inbound connections in all, a few
	// hundred clients' worth of streams aside; a replica serves every
	// client of its cluster, so it admits more, well within limitFDs.
	limits := rcmgr.PartialLimitConfig{System: rcmgr.ResourceLimits{
		Conns: systemConns, ConnsInbound: systemConns, FD: limitFDs,
	}}.Build(cfg.Scale(limitMemory, limitFDs))
	// Metrics off: they register with Prometheus' global registry, which
	// several hosts in one process (tests, a client in a replica) would share.
	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled(),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: perIPConns}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: perIPConns}}),
		rcmgr.WithConnRateLimiters(&rate.Limiter{
			NetworkPrefixLimits: []rate.PrefixLimit{
				{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, // loopback: unlimited, as libp2p's default
				{Prefix: netip.MustParsePrefix("::1/128")},
			},
			SubnetRateLimiter: rate.SubnetLimiter{
				IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: rate.Limit{RPS: perIPRate, Burst: perIPBurst}}},
				IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: 56, Limit: rate.Limit{RPS: perIPRate, Burst: perIPBurst}}},
				GracePeriod:      time.Minute,
			},
		}))
	if err != nil {
		return nil, fmt.Errorf("network: resource manager: %w", err)
	}
	return mgr, nil
}
