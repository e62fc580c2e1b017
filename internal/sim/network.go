package sim

import (
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Network is the fault model of the simulated links.
type Network struct {
	// DropRate and DuplicateRate are per-message probabilities.
	DropRate, DuplicateRate float64
	// MinDelay and MaxDelay bound a message's latency in time units;
	// independent random delays reorder messages.
	MinDelay, MaxDelay uint64
}

// transmit puts m on the link from -> to, subject to the fault model.
func (s *Sim) transmit(from, to int, m *wire.Message) { s.transmitSide(from, 0, to, m) }

// transmitSide is transmit from one instance (side) of a twinned replica.
func (s *Sim) transmitSide(from, side, to int, m *wire.Message) {
	s.stats.Sent++
	if s.isCutOff(from) || s.isCutOff(to) {
		s.stats.Dropped++
		return
	}
	if s.rng.Float64() < s.opts.Network.DropRate {
		s.stats.Dropped++
		return
	}
	copies := 1
	if s.rng.Float64() < s.opts.Network.DuplicateRate {
		copies = 2
		s.stats.Duplicated++
	}
	for range copies {
		s.schedule(event{at: s.now + s.delay(), node: to, from: from, side: side, msg: m})
	}
}

func (s *Sim) delay() uint64 {
	lo, hi := s.opts.Network.MinDelay, s.opts.Network.MaxDelay
	if hi <= lo {
		return max(lo, 1)
	}
	return max(lo+uint64(s.rng.Int64N(int64(hi-lo+1))), 1)
}

func (s *Sim) isCutOff(node int) bool {
	return node < len(s.replicas) && s.replicas[node].cutOff
}
