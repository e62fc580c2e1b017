package byzantine

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// replay sends env and, one time in three, also an old message it sent or
// received to a random replica: correct replicas must ignore what they
// already acted on.
func (d *Decorator) replay(env pbft.Envelope) []Out {
	rng := d.cfg.Rand
	out := []Out{{Envelope: env}}
	if env.To != pbft.ToClient {
		if len(d.seen) < replayMemory {
			d.seen = append(d.seen, env.Msg)
		} else {
			d.seen[rng.IntN(replayMemory)] = env.Msg
		}
	}
	if len(d.seen) > 0 && rng.IntN(3) == 0 {
		out = append(out, Out{Envelope: pbft.Envelope{To: rng.IntN(d.cfg.Replicas), Msg: d.seen[rng.IntN(len(d.seen))]}})
	}
	return out
}

// Observe shows the Decorator a message the replica received: a replaying
// replica may later resend it as if it were its own.
func (d *Decorator) Observe(m *wire.Message) {
	if d.cfg.Kind == Replay && m.GetRequest() == nil && len(d.seen) < replayMemory {
		d.seen = append(d.seen, m)
	}
}
