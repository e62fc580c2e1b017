package sim

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Small-scope mutation, after ByzzFuzz (Winter et al., "Randomized Testing
// of Byzantine Fault Tolerant Algorithms"): a run's faults are a few process
// faults, each a Byzantine replica mutating its outgoing messages of one
// protocol round for some receivers, and a few network faults, each a
// partition of the replicas that the messages of one round cannot cross.
// Everything else is honest and the network is otherwise reliable, so what
// goes wrong comes from a small, describable set of faults.
//
// A round is a (view, sequence number) pair: pre-prepares, prepares and
// commits of view v for sequence number s, and the checkpoints for s sent
// while in view v, belong to round (v, s); VIEW-CHANGEs asking for view v
// and NEW-VIEWs starting it belong to (v, 0), v's view-change round. Status
// and state transfer belong to no round and are never faulted: they are how
// correct replicas repair what the faults broke.

// Round is a ByzzFuzz round of PBFT; Seq 0 is the view change into View.
type Round struct{ View, Seq uint64 }

func (r Round) String() string {
	if r.Seq == 0 {
		return fmt.Sprintf("v%d/view-change", r.View)
	}
	return fmt.Sprintf("v%d/s%d", r.View, r.Seq)
}

// roundOf is the round m belongs to, if any; senderView is its sender's
// view (for checkpoints).
func roundOf(m *wire.Message, senderView uint64) (Round, bool) {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return Round{c.PrePrepare.GetView(), c.PrePrepare.GetSequence()}, true
	case *wire.Message_Prepare:
		return Round{c.Prepare.GetView(), c.Prepare.GetSequence()}, true
	case *wire.Message_Commit:
		return Round{c.Commit.GetView(), c.Commit.GetSequence()}, true
	case *wire.Message_Checkpoint:
		return Round{senderView, c.Checkpoint.GetSequence()}, true
	case *wire.Message_ViewChange:
		return Round{c.ViewChange.GetNewView(), 0}, true
	case *wire.Message_NewView:
		return Round{c.NewView.GetView(), 0}, true
	}
	return Round{}, false
}

// Mutation is what a process fault does to a message.
type Mutation int

// The mutations.
const (
	ViewUp           Mutation = iota // view + 1
	ViewDown                         // view - 1
	SeqUp                            // sequence number + 1
	SeqDown                          // sequence number - 1
	OldDigest                        // a digest the sender saw earlier
	OldBatch                         // a pre-prepare's batch and digest swapped for an earlier one's
	ReplayPrePrepare                 // also send an old pre-prepare the sender saw, re-signed as its own
	ReplayViewChange                 // also send an old VIEW-CHANGE the sender saw, re-signed as its own
	Omit                             // send nothing
	numMutations
)

func (m Mutation) String() string {
	return [...]string{"view+1", "view-1", "seq+1", "seq-1", "old-digest", "old-batch", "replay-pre-prepare", "replay-view-change", "omit"}[m]
}

// ProcessFault: in Round, Byzantine replica Replica sends Receivers (ids)
// the Mutation of each message of the round instead of the message; its
// other receivers get the message as the core wrote it.
type ProcessFault struct {
	Round     Round
	Replica   int
	Receivers []int
	Mutation  Mutation
	// Hits counts the messages the fault changed in a run (in the faults
	// of the run's Options.Adversaries: give each run its own).
	Hits int
}

func (f ProcessFault) String() string {
	return fmt.Sprintf("%v replica %d %v to %v", f.Round, f.Replica, f.Mutation, f.Receivers)
}

// NetworkFaults are partitions by round: a message of one of their rounds
// reaches only the replicas in its sender's group, for Duration time units
// from the first message of that round; then the partition heals (so that
// retransmissions get through, as partial synchrony promises: a partition
// that dropped the messages of a view change for ever would strand PBFT in
// it). They implement Partitioner; give each run its own.
type NetworkFaults struct {
	Groups   map[Round][]int // round -> group by replica
	Duration uint64
	started  map[Round]uint64
}

// Connected implements Partitioner.
func (nf *NetworkFaults) Connected(now uint64, m *wire.Message, senderView uint64, from, to Instance) bool {
	r, ok := roundOf(m, senderView)
	if !ok || nf.Groups[r] == nil {
		return true
	}
	if nf.started == nil {
		nf.started = make(map[Round]uint64)
	}
	if _, ok := nf.started[r]; !ok {
		nf.started[r] = now
	}
	return now >= nf.started[r]+nf.Duration || nf.Groups[r][from.Replica] == nf.Groups[r][to.Replica]
}

func (nf *NetworkFaults) String() string {
	var parts []string
	for r, groups := range nf.Groups {
		parts = append(parts, fmt.Sprintf("%v %s", r, formatGroups(groups, func(id int) string { return fmt.Sprint(id) })))
	}
	slices.Sort(parts)
	return fmt.Sprintf("[%s] for %d each", strings.Join(parts, "; "), nf.Duration)
}

// MutationScenario is one small-scope run's faults.
type MutationScenario struct {
	Process []ProcessFault
	Network *NetworkFaults
}

func (ms MutationScenario) String() string {
	return fmt.Sprintf("process faults %v, network faults %v", ms.Process, ms.Network)
}

// RandomMutationOptions draws a small-scope run from its seed: n replicas,
// up to f of them Byzantine (Mutate), one to three process faults and zero
// to two network faults in other rounds, rounds drawn from views 0 to 2
// (mostly 0) and the view change or one of the first operations/2+1
// sequence numbers (batches hold one to three requests); a partition lasts
// four view-change timeouts. A small workload
// (operations operations), a reordering network that loses nothing but
// what the faults take.
func RandomMutationOptions(seed uint64, n, operations int) (Options, MutationScenario) {
	rng := newRand(seed ^ 0xb122)
	f := (n - 1) / 3
	byz := rng.Perm(n)[:1+rng.IntN(f)]
	// A quarter of the runs aim at the view change into view 1: its new
	// primary is Byzantine and mutates the view-change round, and a network
	// fault cuts the first primary off in one round of view 0. Of the
	// others, half make the first primary Byzantine.
	newPrimary := rng.IntN(4) == 0
	if first := 0; newPrimary || rng.IntN(2) == 0 {
		if newPrimary {
			first = 1
		}
		if !slices.Contains(byz, first) {
			byz[0] = first
		}
	}
	randomRound := func() Round {
		v := uint64([]int{0, 0, 0, 1, 1, 2}[rng.IntN(6)])
		if v > 0 && rng.IntN(3) == 0 {
			return Round{v, 0} // view 0 has no view change
		}
		return Round{v, uint64(1 + rng.IntN(operations/2+1))}
	}
	var ms MutationScenario
	used := make(map[Round]bool)
	for i := range 1 + rng.IntN(3) {
		pf := ProcessFault{Round: randomRound(), Replica: byz[rng.IntN(len(byz))], Mutation: Mutation(rng.IntN(int(numMutations)))}
		if newPrimary && i == 0 {
			pf.Round, pf.Replica = Round{1, 0}, 1
		}
		for _, id := range rng.Perm(n) {
			if id != pf.Replica && (len(pf.Receivers) == 0 || rng.IntN(2) == 0) {
				pf.Receivers = append(pf.Receivers, id)
			}
		}
		slices.Sort(pf.Receivers)
		used[pf.Round] = true
		ms.Process = append(ms.Process, pf)
	}
	viewChangeTicks := uint64(10 + rng.IntN(20))
	ms.Network = &NetworkFaults{Groups: make(map[Round][]int), Duration: 4 * viewChangeTicks * mutationTick}
	if newPrimary {
		r := Round{0, uint64(1 + rng.IntN(operations/2+1))}
		used[r] = true
		ms.Network.Groups[r] = append([]int{0}, slices.Repeat([]int{1}, n-1)...)
	}
	for range rng.IntN(3) {
		r := randomRound()
		if used[r] {
			continue // network faults take other rounds than process faults
		}
		used[r] = true
		ms.Network.Groups[r] = randomPartition(rng, n)
	}
	opts := Options{
		Seed:       seed,
		Replicas:   n,
		Clients:    2,
		Sessions:   1 + rng.IntN(2),
		Operations: operations,
		Keys:       2,
		RealCrypto: seed%64 == 0,
		Network:    Network{MinDelay: 1, MaxDelay: uint64(2 + rng.IntN(20))},
		TickEvery:  mutationTick,
		Deadline:   1_000_000,
		Replica: pbft.Config{
			CheckpointInterval: uint64(2 << rng.IntN(2)),
			MaxBatchSize:       1 + rng.IntN(3),
			MaxInflightBatches: uint64(1 + rng.IntN(3)),
			StatusTicks:        2,
			ViewChangeTicks:    viewChangeTicks,
			StateChunkSize:     64,
		},
		RetransmitTicks: 20,
		Partitions:      ms.Network,
	}
	for _, id := range byz {
		a := Adversary{Replica: id, Kind: byzantine.Mutate}
		for _, pf := range ms.Process {
			if pf.Replica == id {
				a.Faults = append(a.Faults, pf)
			}
		}
		opts.Adversaries = append(opts.Adversaries, a)
	}
	return opts, ms
}

const mutationTick = 10

// mutationMemory bounds what a mutating replica remembers of the messages
// it saw, for old digests and replays.
const mutationMemory = 128

// remember keeps the agreement and view-change messages a mutating replica
// saw or sent, the latest mutationMemory of them.
func remember(n *node, m *wire.Message) {
	switch m.Content.(type) {
	case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit, *wire.Message_Checkpoint, *wire.Message_ViewChange:
		if len(n.seen) == mutationMemory {
			n.seen = slices.Delete(n.seen, 0, 1)
		}
		n.seen = append(n.seen, m)
	}
}

// mutate carries out replica id's process faults on env.
func (s *Sim) mutate(id int, env pbft.Envelope) []pbft.Envelope {
	n := s.replicas[id]
	remember(n, env.Msg)
	r, ok := roundOf(env.Msg, n.r.View())
	if !ok || env.To == pbft.ToClient || !s.signedBy(n, env.Msg) {
		// Messages it relays (a NEW-VIEW resent for its primary) pass
		// unchanged: it cannot sign them.
		return []pbft.Envelope{env}
	}
	i := slices.IndexFunc(n.adv.Faults, func(f ProcessFault) bool { return f.Round == r })
	if i < 0 {
		return []pbft.Envelope{env}
	}
	f := &n.adv.Faults[i]
	mutated := s.mutated(n, f.Mutation, env.Msg)
	if len(mutated) != 1 || mutated[0] != env.Msg {
		f.Hits++
	}
	var out []pbft.Envelope
	for to := range s.replicas {
		if to == id || (env.To != pbft.Broadcast && env.To != to) {
			continue
		}
		if !slices.Contains(f.Receivers, to) {
			out = append(out, pbft.Envelope{To: to, Msg: env.Msg})
			continue
		}
		for _, m := range mutated {
			out = append(out, pbft.Envelope{To: to, Msg: m})
		}
	}
	return out
}

// mutated is what a message becomes under mutation mu: nothing (Omit), the
// message and an old one (the replays), or a changed copy re-signed with
// the Byzantine replica's own key. A mutation that does not apply to the
// message's type leaves it as it is.
func (s *Sim) mutated(n *node, mu Mutation, m *wire.Message) []*wire.Message {
	switch mu {
	case Omit:
		return nil
	case ReplayPrePrepare, ReplayViewChange:
		old := s.pickSeen(n, m, func(o *wire.Message) bool {
			if mu == ReplayPrePrepare {
				return o.GetPrePrepare() != nil
			}
			return o.GetViewChange() != nil
		})
		if old == nil {
			return []*wire.Message{m}
		}
		old = proto.Clone(old).(*wire.Message)
		if pp := old.GetPrePrepare(); pp != nil {
			pp.Replica = n.cfg.ID
		} else {
			old.GetViewChange().Replica = n.cfg.ID
		}
		s.resign(n, old)
		return []*wire.Message{m, old}
	}
	c := proto.Clone(m).(*wire.Message)
	if !s.change(n, mu, c) {
		return []*wire.Message{m}
	}
	s.resign(n, c)
	return []*wire.Message{c}
}

// change applies a view, sequence or digest mutation to c in place, and
// reports whether it applied. In a NEW-VIEW, the sequence and digest
// mutations apply to the pre-prepares it re-issues (re-signed): only a
// backup that recomputes them from the view changes can tell.
func (s *Sim) change(n *node, mu Mutation, c *wire.Message) bool {
	shift := func(x *uint64, up bool) bool {
		switch {
		case up:
			*x++
		case *x == 0:
			return false
		default:
			*x--
		}
		return true
	}
	if nv := c.GetNewView(); nv != nil && mu != ViewUp && mu != ViewDown {
		changed := false
		for _, pp := range nv.PrePrepares {
			inner := &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}
			if s.change(n, mu, inner) {
				s.resign(n, inner)
				changed = true
			}
			if mu != SeqUp && mu != SeqDown && changed {
				break // one swapped digest is enough
			}
		}
		return changed
	}
	switch mu {
	case ViewUp, ViewDown:
		if v := viewField(c); v != nil {
			return shift(v, mu == ViewUp)
		}
	case SeqUp, SeqDown:
		if seq := seqField(c); seq != nil {
			return shift(seq, mu == SeqUp)
		}
	case OldDigest, OldBatch:
		return s.oldDigest(n, c, mu == OldBatch)
	}
	return false
}

func viewField(c *wire.Message) *uint64 {
	switch x := c.Content.(type) {
	case *wire.Message_PrePrepare:
		return &x.PrePrepare.View
	case *wire.Message_Prepare:
		return &x.Prepare.View
	case *wire.Message_Commit:
		return &x.Commit.View
	case *wire.Message_ViewChange:
		return &x.ViewChange.NewView
	case *wire.Message_NewView:
		return &x.NewView.View
	}
	return nil
}

func seqField(c *wire.Message) *uint64 {
	switch x := c.Content.(type) {
	case *wire.Message_PrePrepare:
		return &x.PrePrepare.Sequence
	case *wire.Message_Prepare:
		return &x.Prepare.Sequence
	case *wire.Message_Commit:
		return &x.Commit.Sequence
	case *wire.Message_Checkpoint:
		return &x.Checkpoint.Sequence
	}
	return nil
}

// oldDigest swaps c's digest for one the replica saw earlier in a message
// of another round: a prepare, commit or pre-prepare takes an earlier
// agreement digest (a pre-prepare keeps its requests, so its digest no
// longer matches them), or with batch a pre-prepare takes an earlier
// pre-prepare's requests and digest; a checkpoint takes an earlier state
// digest.
func (s *Sim) oldDigest(n *node, c *wire.Message, batch bool) bool {
	if cp := c.GetCheckpoint(); cp != nil && !batch {
		if old := s.pickSeen(n, c, func(o *wire.Message) bool { return o.GetCheckpoint() != nil }); old != nil {
			cp.StateDigest = old.GetCheckpoint().GetStateDigest()
			return true
		}
		return false
	}
	pp := c.GetPrePrepare()
	if batch {
		if pp == nil {
			return false
		}
		if old := s.pickSeen(n, c, func(o *wire.Message) bool { return o.GetPrePrepare() != nil }); old != nil {
			pp.Requests, pp.Digest = old.GetPrePrepare().GetRequests(), old.GetPrePrepare().GetDigest()
			return true
		}
		return false
	}
	if agreementDigest(c) == nil {
		return false
	}
	old := s.pickSeen(n, c, func(o *wire.Message) bool {
		return agreementDigest(o) != nil && !bytes.Equal(agreementDigest(o), agreementDigest(c))
	})
	if old == nil {
		return false
	}
	switch x := c.Content.(type) {
	case *wire.Message_PrePrepare:
		x.PrePrepare.Digest = agreementDigest(old)
	case *wire.Message_Prepare:
		x.Prepare.Digest = agreementDigest(old)
	case *wire.Message_Commit:
		x.Commit.Digest = agreementDigest(old)
	}
	return true
}

func agreementDigest(m *wire.Message) []byte {
	switch x := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return x.PrePrepare.GetDigest()
	case *wire.Message_Prepare:
		return x.Prepare.GetDigest()
	case *wire.Message_Commit:
		return x.Commit.GetDigest()
	}
	return nil
}

// pickSeen picks at random a remembered message that matches and belongs
// to another round than m.
func (s *Sim) pickSeen(n *node, m *wire.Message, match func(*wire.Message) bool) *wire.Message {
	r, _ := roundOf(m, n.r.View())
	var candidates []*wire.Message
	for _, o := range n.seen {
		if or, _ := roundOf(o, n.r.View()); match(o) && or != r {
			candidates = append(candidates, o)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	return candidates[s.rng.IntN(len(candidates))]
}

// signedBy reports whether replica n signed m.
func (s *Sim) signedBy(n *node, m *wire.Message) bool {
	item, ok := pbft.SignatureOf("sim", n.cfg.Replicas, m)
	return ok && bytes.Equal(item.PublicKey, n.cfg.Replicas[n.cfg.ID])
}

// resign signs c with the Byzantine replica's own key: it signs whatever it
// likes.
func (s *Sim) resign(n *node, c *wire.Message) {
	item, ok := pbft.SignatureOf("sim", n.cfg.Replicas, c)
	if !ok {
		return
	}
	sig := n.signer.Sign(item.Message)
	switch x := c.Content.(type) {
	case *wire.Message_PrePrepare:
		x.PrePrepare.Signature = sig
	case *wire.Message_Prepare:
		x.Prepare.Signature = sig
	case *wire.Message_Commit:
		x.Commit.Signature = sig
	case *wire.Message_Checkpoint:
		x.Checkpoint.Signature = sig
	case *wire.Message_ViewChange:
		x.ViewChange.Signature = sig
	case *wire.Message_NewView:
		x.NewView.Signature = sig
	}
}
