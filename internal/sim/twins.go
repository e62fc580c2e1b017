package sim

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Twins (Bano et al.): a faulty replica is two honest instances holding the
// same key, each talking to its own part of the cluster, so equivocation,
// conflicting votes and split views arise with no Byzantine code at all.

func twinOf(cfg pbft.Config) (*pbft.Replica, error) {
	cfg.Service = kv.New()
	return pbft.New(cfg)
}

// instancesFor is which instance(s) of replica n the message of event e
// reaches: a replica's messages reach the instance on its side, a client's
// reach both. Under Options.Partitions, a replica's message reaches every
// instance of n that its sending instance is connected to.
func (s *Sim) instancesFor(n *node, e event) []*pbft.Replica {
	if p := s.opts.Partitions; p != nil && e.from < len(s.replicas) {
		return s.connected(p, n, e)
	}
	if n.twin == nil {
		return []*pbft.Replica{n.r}
	}
	if e.from >= len(s.replicas) {
		return []*pbft.Replica{n.r, n.twin}
	}
	if s.twinSide[e.from] == 0 {
		return []*pbft.Replica{n.r}
	}
	return []*pbft.Replica{n.twin}
}

// flushTwins sends each instance's messages to its own side and to clients.
func (s *Sim) flushTwins(id int, n *node) {
	for side, r := range []*pbft.Replica{n.r, n.twin} {
		if !r.HasReady() {
			continue
		}
		for _, env := range r.Ready().Messages {
			s.routeSide(id, side, env)
		}
	}
}

func (s *Sim) routeSide(from, side int, env pbft.Envelope) {
	switch env.To {
	case pbft.ToClient:
		s.route(from, env)
	case pbft.Broadcast:
		for to := range s.replicas {
			if to != from && s.onSide(to, side) {
				s.transmitSide(from, side, to, env.Msg)
			}
		}
	default:
		if env.To >= 0 && env.To < len(s.replicas) && s.onSide(env.To, side) {
			s.transmitSide(from, side, env.To, env.Msg)
		}
	}
}

// onSide: replica to talks to instance side of a twinned replica. Under
// Options.Partitions every instance sends to every replica and the
// partitions decide on arrival.
func (s *Sim) onSide(to, side int) bool {
	return s.opts.Partitions != nil || s.twinSide[to] == side
}
