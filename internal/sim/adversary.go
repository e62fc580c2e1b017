package sim

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// randomKinds are the kinds random runs draw from (byzantine has the one
// fault vocabulary): all but Mutate, which only small-scope mutation runs
// give, with its faults. The order is the draw's: a seed's run depends on it.
var randomKinds = []byzantine.Kind{byzantine.Silent, byzantine.BadSignature, byzantine.WrongDigest,
	byzantine.Replay, byzantine.WrongResult, byzantine.Equivocate, byzantine.DigestLie, byzantine.Repropose,
	byzantine.ForgeRequest, byzantine.BadState, byzantine.SkipSequence, byzantine.BadNewView, byzantine.Slow,
	byzantine.Twin}

// Adversary makes Replica faulty in the given way. A faulty replica runs the
// honest core and a byzantine.Decorator rewrites what the core sends: a
// decorator at the send boundary, holding only the replica's own key.
type Adversary struct {
	Replica int
	Kind    byzantine.Kind
	// Faults are what a byzantine.Mutate replica does, by round.
	Faults []ProcessFault
}

func (a Adversary) String() string { return fmt.Sprintf("%d:%s", a.Replica, a.Kind) }

// RandomAdversaries picks count distinct replicas out of n and a kind for each.
func RandomAdversaries(seed uint64, n, count int) []Adversary {
	rng := newRand(seed ^ 0xadd)
	ids := rng.Perm(n)[:count]
	if count >= 2 && rng.IntN(4) == 0 {
		// Two consecutive primaries faulty: the first view change must be
		// followed by a second.
		ids = append([]int{0, 1}, slices.DeleteFunc(ids, func(id int) bool { return id <= 1 })...)[:count]
	}
	out := make([]Adversary, count)
	for i, id := range ids {
		out[i] = Adversary{Replica: id, Kind: randomKinds[rng.IntN(len(randomKinds))]}
	}
	if count >= 2 && out[0].Replica == 0 && out[1].Replica == 1 && rng.IntN(2) == 0 {
		// The first faulty primary forces a view change, whose new primary
		// then lies in its NEW-VIEW.
		out[0].Kind, out[1].Kind = byzantine.Silent, byzantine.BadNewView
	}
	return out
}

// corrupt returns what faulty replica id sends now instead of env; what it
// holds back to just under the view-change timeout (byzantine.Slow) it sends
// then, in virtual time.
func (s *Sim) corrupt(id int, env pbft.Envelope) []pbft.Envelope {
	n := s.replicas[id]
	switch n.adv.Kind {
	case byzantine.Honest:
		return []pbft.Envelope{env}
	case byzantine.Mutate:
		return s.mutate(id, env)
	}
	var now []pbft.Envelope
	for _, out := range n.byz.Rewrite(env) {
		var wait uint64
		switch {
		case out.Delay:
			wait = s.opts.Replica.ViewChangeTicks * s.opts.TickEvery * 8 / 10
		case out.Sluggish:
			// Just under the shortest delay the performance monitor acts on.
			floor := cmp.Or(s.opts.Replica.MinProposeDelayTicks, pbft.DefaultMinProposeDelayTicks)
			wait = (floor - 1) * s.opts.TickEvery
		default:
			now = append(now, out.Envelope)
			continue
		}
		s.schedule(event{at: s.now + wait, action: func() { s.route(id, out.Envelope) }})
	}
	return now
}

// observe lets a faulty replica remember messages it received, which it may
// later resend as if they were its own.
func (s *Sim) observe(id int, m *wire.Message) {
	n := s.replicas[id]
	if n.adv.Kind == byzantine.Mutate {
		remember(n, m)
	}
	n.byz.Observe(m)
}
