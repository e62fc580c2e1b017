package sim

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Kind is what a faulty replica does. A faulty replica runs the honest core
// and its adversary rewrites what the core sends: a decorator at the send
// boundary. It holds only its own key, so it cannot forge others' messages.
type Kind int

// The adversaries.
const (
	Honest       Kind = iota
	Silent            // sends nothing
	BadSignature      // corrupts the signature of every signed message
	WrongDigest       // prepares and commits for a digest nobody proposed, validly signed
	Replay            // also resends old messages it sent or received, to random replicas
	WrongResult       // replies to clients with a wrong result (all such replicas the same one)
	Equivocate        // as primary, sends different valid pre-prepares to different backups
	DigestLie         // as primary, sends half the backups other requests under the signed digest
	Repropose         // as primary, adds an already ordered request to every new batch
	ForgeRequest      // as primary, adds a request under a client's key it cannot sign
	BadState          // serves state transfers with a flipped byte, or stops before the last chunk
	SkipSequence      // as primary, leaves every third sequence number unassigned
	BadNewView        // as a new primary, sends a NEW-VIEW whose pre-prepares the view changes do not give
	Slow              // as primary, delays its pre-prepares to just under the view-change timeout
	Twin              // two honest instances share its key; each other replica talks to one (Twins)
	numKinds
	// Mutate carries out its Faults (small-scope mutation, mutation.go);
	// random runs never draw it.
	Mutate = numKinds
)

func (k Kind) String() string {
	return [...]string{"honest", "silent", "bad-signature", "wrong-digest", "replay", "wrong-result",
		"equivocate", "digest-lie", "repropose", "forge-request", "bad-state", "skip-sequence",
		"bad-new-view", "slow", "twin", "mutate"}[k]
}

// Adversary makes Replica faulty in the given way.
type Adversary struct {
	Replica int
	Kind    Kind
	// Faults are what a Mutate replica does, by round.
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
		out[i] = Adversary{Replica: id, Kind: Kind(1 + rng.IntN(int(numKinds)-1))}
	}
	if count >= 2 && out[0].Replica == 0 && out[1].Replica == 1 && rng.IntN(2) == 0 {
		// The first faulty primary forces a view change, whose new primary
		// then lies in its NEW-VIEW.
		out[0].Kind, out[1].Kind = Silent, BadNewView
	}
	return out
}

const replayMemory = 256

// corrupt returns what faulty replica id really sends instead of env.
func (s *Sim) corrupt(id int, env pbft.Envelope) []pbft.Envelope {
	n := s.replicas[id]
	switch n.adv.Kind {
	case Honest:
		return []pbft.Envelope{env}
	case Silent:
		return nil
	case BadSignature:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: byzantine.CorruptSignature(env.Msg)}}
	case WrongDigest:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: s.wrongDigest(n, env.Msg)}}
	case Replay:
		return s.replay(id, env)
	case WrongResult:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: wrongResult(env.Msg)}}
	case Equivocate:
		return s.equivocate(n, id, env)
	case DigestLie:
		return s.digestLie(id, env)
	case BadState:
		return s.badState(env)
	case SkipSequence:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: s.skipSequence(n, env.Msg)}}
	case BadNewView:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: s.badNewView(n, env.Msg)}}
	case Slow:
		if env.Msg.GetPrePrepare() == nil {
			return []pbft.Envelope{env}
		}
		wait := s.opts.Replica.ViewChangeTicks * s.opts.TickEvery * 8 / 10
		s.schedule(event{at: s.now + wait, action: func() { s.route(id, env) }})
		return nil
	case Repropose, ForgeRequest:
		return []pbft.Envelope{{To: env.To, Client: env.Client, Msg: s.extendBatch(n, env.Msg)}}
	case Mutate:
		return s.mutate(id, env)
	}
	return nil
}

func (s *Sim) wrongDigest(n *node, m *wire.Message) *wire.Message {
	var d crypto.Digest
	for i := range d {
		d[i] = byte(s.rng.Uint32())
	}
	switch m.Content.(type) {
	case *wire.Message_Prepare:
		m = proto.Clone(m).(*wire.Message)
		p := m.GetPrepare()
		p.Digest = d[:]
		_ = pbft.SignPrepare(n.signer, "sim", p)
	case *wire.Message_Commit:
		m = proto.Clone(m).(*wire.Message)
		c := m.GetCommit()
		c.Digest = d[:]
		_ = pbft.SignCommit(n.signer, "sim", c)
	}
	return m
}

func (s *Sim) replay(id int, env pbft.Envelope) []pbft.Envelope {
	n := s.replicas[id]
	out := []pbft.Envelope{env}
	if env.To != pbft.ToClient {
		if len(n.seen) < replayMemory {
			n.seen = append(n.seen, env.Msg)
		} else {
			n.seen[s.rng.IntN(replayMemory)] = env.Msg
		}
	}
	if len(n.seen) > 0 && s.rng.IntN(3) == 0 {
		out = append(out, pbft.Envelope{To: s.rng.IntN(len(s.replicas)), Msg: n.seen[s.rng.IntN(len(n.seen))]})
	}
	return out
}

// observe lets a replaying adversary remember messages it received, which it
// will later resend as if they were its own.
func (s *Sim) observe(id int, m *wire.Message) {
	n := s.replicas[id]
	if n.adv.Kind == Mutate {
		remember(n, m)
	}
	if n.adv.Kind == Replay && m.GetRequest() == nil && len(n.seen) < replayMemory {
		n.seen = append(n.seen, m)
	}
}

var evil = []byte("evil")

func wrongResult(m *wire.Message) *wire.Message {
	if m.GetReply() == nil {
		return m
	}
	m = proto.Clone(m).(*wire.Message)
	m.GetReply().Result = evil
	return m
}

// equivocate sends half of the backups a different, validly signed batch for
// the same (view, sequence): the original minus its last request.
func (s *Sim) equivocate(n *node, id int, env pbft.Envelope) []pbft.Envelope {
	pp := env.Msg.GetPrePrepare()
	if pp == nil || env.To != pbft.Broadcast {
		return []pbft.Envelope{env}
	}
	alt := byzantine.OtherBatch(n.signer, "sim", pp)
	altMsg := &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: alt}}
	var out []pbft.Envelope
	for to := range s.replicas {
		if to == id {
			continue
		}
		m := env.Msg
		if to%2 == 1 {
			m = altMsg
		}
		out = append(out, pbft.Envelope{To: to, Msg: m})
	}
	return out
}

// digestLie keeps the primary's signed digest but gives odd backups a batch
// without its last request: only the digest check tells them apart.
func (s *Sim) digestLie(id int, env pbft.Envelope) []pbft.Envelope {
	pp := env.Msg.GetPrePrepare()
	if pp == nil || env.To != pbft.Broadcast || len(pp.GetRequests()) == 0 {
		return []pbft.Envelope{env}
	}
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Requests = alt.Requests[:len(alt.Requests)-1]
	altMsg := &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: alt}}
	var out []pbft.Envelope
	for to := range s.replicas {
		if to != id {
			m := env.Msg
			if to%2 == 1 {
				m = altMsg
			}
			out = append(out, pbft.Envelope{To: to, Msg: m})
		}
	}
	return out
}

// extendBatch appends to a pre-prepare either a request the primary already
// ordered earlier (Repropose: correct replicas must skip it, by its
// timestamp) or a request it made up under a client's key with a signature it
// cannot produce (ForgeRequest: correct replicas must refuse the batch), and
// re-signs the batch with its own key.
func (s *Sim) extendBatch(n *node, m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	var extra *wire.Request
	if n.adv.Kind == Repropose {
		if len(n.ordered) > 0 {
			extra = n.ordered[s.rng.IntN(len(n.ordered))]
		}
		n.ordered = append(n.ordered, pp.GetRequests()...)
	} else if len(pp.GetRequests()) > 0 {
		extra = proto.Clone(pp.GetRequests()[0]).(*wire.Request)
		extra.Timestamp += 1_000_000
		extra.Operation = []byte("forged")
		extra.Signature = n.signer.Sign(pbft.RequestTranscript("sim", extra))
	}
	if extra == nil {
		return m
	}
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Requests = append(alt.Requests, extra)
	digests := make([]crypto.Digest, len(alt.Requests))
	for i, r := range alt.Requests {
		digests[i] = pbft.RequestDigest("sim", r)
	}
	d := pbft.BatchDigest("sim", digests)
	alt.Digest = d[:]
	_ = pbft.SignPrePrepare(n.signer, "sim", alt)
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: alt}}
}

// badState corrupts the state this replica serves: a flipped byte in a
// chunk, or silence instead of the last chunk.
func (s *Sim) badState(env pbft.Envelope) []pbft.Envelope {
	sc := env.Msg.GetStateChunk()
	if sc == nil {
		return []pbft.Envelope{env}
	}
	if sc.GetChunk()+1 == sc.GetChunks() && s.rng.IntN(2) == 0 {
		return nil
	}
	m := proto.Clone(env.Msg).(*wire.Message)
	if data := m.GetStateChunk().GetData(); len(data) > 0 {
		data[s.rng.IntN(len(data))] ^= 0x01
	}
	return []pbft.Envelope{{To: env.To, Msg: m}}
}

// skipSequence renumbers the primary's pre-prepares s -> s + s/3, so every
// third sequence number is never assigned: execution stops at the first gap
// until a view change fills it with a null request.
func (s *Sim) skipSequence(n *node, m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Sequence += alt.Sequence / 3
	_ = pbft.SignPrePrepare(n.signer, "sim", alt)
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: alt}}
}

// badNewView replaces the last pre-prepare of a NEW-VIEW with a null request
// (or adds one), validly signed: only recomputing O from the view changes
// exposes it.
func (s *Sim) badNewView(n *node, m *wire.Message) *wire.Message {
	nv := m.GetNewView()
	if nv == nil {
		return m
	}
	alt := proto.Clone(nv).(*wire.NewView)
	null := pbft.BatchDigest("sim", nil)
	if k := len(alt.PrePrepares); k > 0 {
		last := alt.PrePrepares[k-1]
		if string(last.Digest) == string(null[:]) {
			alt.PrePrepares = alt.PrePrepares[:k-1]
		} else {
			last.Digest = null[:]
			_ = pbft.SignPrePrepare(n.signer, "sim", last)
		}
	} else {
		var stable uint64
		for _, vc := range alt.ViewChanges {
			stable = max(stable, vc.GetStableSequence())
		}
		pp := &wire.PrePrepare{View: alt.View, Sequence: stable + 1, Digest: null[:], Replica: alt.Replica}
		_ = pbft.SignPrePrepare(n.signer, "sim", pp)
		alt.PrePrepares = append(alt.PrePrepares, pp)
	}
	_ = pbft.SignNewView(n.signer, "sim", alt)
	return &wire.Message{Content: &wire.Message_NewView{NewView: alt}}
}
