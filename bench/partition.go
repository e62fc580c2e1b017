package bench

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"sync/atomic"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// partition cuts one replica off from the others by dropping, at every
// replica's send boundary, what it sends to them and what they send to it.
// The links stay up and clients still reach it: it is the replicas'
// messages that are lost, as when a network path between sites fails.
type partition struct {
	cut atomic.Int64 // the replica cut off, or -1
}

func newPartition() *partition {
	p := &partition{}
	p.cut.Store(-1)
	return p
}

func (p *partition) set(replica int) { p.cut.Store(int64(replica)) }

func (p *partition) heal() { p.cut.Store(-1) }

// wrap gates replica self's transport.
func (p *partition) wrap(self uint32) func(pbft.Transport) pbft.Transport {
	return func(t pbft.Transport) pbft.Transport { return &gated{Transport: t, self: int64(self), p: p} }
}

type gated struct {
	pbft.Transport
	self int64
	p    *partition
}

func (g *gated) Send(id uint32, m *wire.Message) {
	if c := g.p.cut.Load(); c >= 0 && (c == g.self || c == int64(id)) {
		return
	}
	g.Transport.Send(id, m)
}
