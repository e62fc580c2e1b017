package byzantine

import (
	"math/rand/v2"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Config is what a faulty replica's Decorator knows: only what the replica
// itself holds.
type Config struct {
	Kind Kind
	// Self is the replica's id and Replicas the cluster's size: a broadcast
	// is split per backup, and a replay goes to a random replica.
	Self, Replicas int
	// Signer is the replica's own key, Cluster the signing domain.
	Signer  crypto.Signer
	Cluster string
	// Rand draws the wrong digests, replays, reproposed requests and
	// corrupted state. The simulator passes its seeded source, so a seed
	// always gives the same run.
	Rand *rand.Rand
}

// Out is one message a faulty replica really sends.
type Out struct {
	pbft.Envelope
	// Delay: send it just under the view-change timeout later (Slow). The
	// caller holds it, on its own clock: a timer, or virtual time.
	Delay bool
	// Sluggish: send it just under MinProposeDelayTicks later (Sluggish),
	// the shortest delay the performance monitor would ever act on.
	Sluggish bool
}

// A Decorator rewrites a faulty replica's outgoing messages according to
// its Kind. It is not safe for concurrent use.
type Decorator struct {
	cfg Config
	// rewritten are the pre-prepares sent instead of the core's, by view
	// and sequence number (once); cleared past rewrittenMemory.
	rewritten map[[2]uint64]*wire.Message
	// seen are messages a replaying replica may resend (Replay).
	seen []*wire.Message
	// ordered are requests a reproposing primary already ordered (Repropose).
	ordered []*wire.Request
	// censored is the client key a censoring primary leaves out (Censor):
	// the first one it proposed a request of.
	censored string
	// lastRead is each client session's previous read-only result (StaleRead).
	lastRead map[readKey][]byte
}

const (
	// rewrittenMemory bounds the rewritten pre-prepares kept: only recent
	// sequence numbers are sent again.
	rewrittenMemory = 1024
	// replayMemory bounds the messages a replaying replica remembers.
	replayMemory = 256
	// orderedMemory bounds the requests a reproposing primary remembers.
	orderedMemory = 4096
)

// New returns the Decorator of a replica configured by cfg.
func New(cfg Config) *Decorator {
	return &Decorator{cfg: cfg, rewritten: make(map[[2]uint64]*wire.Message)}
}

// Rewrite returns what the replica really sends instead of env, which is
// addressed like the core's envelopes: a replica id, pbft.Broadcast or
// pbft.ToClient. Honest, Twin and Mutate replicas send env unchanged.
func (d *Decorator) Rewrite(env pbft.Envelope) []Out {
	switch d.cfg.Kind {
	case Silent:
		return nil
	case BadSignature:
		return same(env, corruptSignature(env.Msg))
	case WrongDigest:
		return same(env, d.wrongDigest(env.Msg))
	case Replay:
		return d.replay(env)
	case WrongResult:
		return same(env, wrongResult(env.Msg))
	case Equivocate, DigestLie:
		return d.split(env)
	case Repropose, ForgeRequest:
		return same(env, d.extendBatch(env.Msg))
	case BadState:
		return d.badState(env)
	case SkipSequence:
		return same(env, d.skipSequence(env.Msg))
	case BadNewView:
		return same(env, d.badNewView(env.Msg))
	case Slow:
		return []Out{{Envelope: env, Delay: env.Msg.GetPrePrepare() != nil}}
	case Sluggish:
		return []Out{{Envelope: env, Sluggish: env.Msg.GetPrePrepare() != nil}}
	case Censor:
		return same(env, d.censor(env.Msg))
	case StaleRead:
		return same(env, d.staleRead(env.Msg))
	}
	return []Out{{Envelope: env}}
}

// same is m sent where env was going.
func same(env pbft.Envelope, m *wire.Message) []Out {
	return []Out{{Envelope: pbft.Envelope{To: env.To, Client: env.Client, Msg: m}}}
}
