package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Twins schedules (Bano et al., "Twins: BFT Systems Made Robust"). The nodes
// are the n replicas plus one second instance per twinned replica, both
// instances holding that replica's key and running honest code; a schedule
// splits the nodes into groups for each of its first rounds, and nodes in
// different groups do not hear each other.
//
// Mapping rounds to PBFT. Twins' rounds are DiemBFT rounds, each with a
// leader the scenario picks and a partition that applies to the messages of
// that round. Here a message travels under the partition of round
// max(v, t/D):
//
//   - v is the view the message belongs to: pre-prepares, prepares and
//     commits of view v, VIEW-CHANGEs asking for v, NEW-VIEWs starting it,
//     Status of a replica in v (messages naming no view, such as
//     checkpoints, state transfer and forwarded requests, belong to their
//     sender's view). A round thus ends as soon as the cluster moves past
//     its view: a completed view change starts the next round, with its new
//     leader, as in Twins.
//   - t/D counts rounds of D = 2T in time, T the view-change timeout: long
//     enough for a timer to fire within the round. A round also ends when
//     its time is up, so a partition in which no replica can act (Bulwark's
//     replicas suspect the primary only while they hear a quorum) does not
//     last for ever, and the network changes under a view as well as across
//     views.
//
// PBFT fixes the leader of view v as v mod n, so the leader schedule is
// which replica is the twin: that decides the views in which the twin leads
// and equivocates from honest code, its two instances proposing different
// batches to their groups. Relabelling the other replicas would change who
// leads which view, so there is no other choice of leaders to make. A round
// may also be fully connected (one group). Rounds past the schedule are
// fully connected: from GST = R·D, R the number of scheduled rounds, every
// link is up for good. Liveness is required throughout, within a bound
// counted from the start (SettleBound, far beyond GST). Within a group both
// instances of a twin receive what is sent to its id; the two instances
// never talk to each other. Clients reach every instance and hear from every
// instance.
//
// A run ends once every operation completed and the correct replicas
// converged, possibly before GST; rounds after its end cannot affect it.
type TwinsScenario struct {
	Replicas int
	// Twins are the twinned replicas, ascending. Node k < Replicas is replica
	// k's (first) instance; node Replicas+j is the second instance of Twins[j].
	Twins []int
	// Rounds[r][k] is node k's group in round r.
	Rounds [][]int
	// D is a round's length in time units.
	D uint64
	// Consulted is the latest round a message of the run belonged to: the
	// run is the same whatever the later rounds are.
	Consulted int
}

// Connected implements Partitioner.
func (sc *TwinsScenario) Connected(now uint64, m *wire.Message, senderView uint64, from, to Instance) bool {
	r := max(messageView(m, senderView), now/sc.D)
	if r >= uint64(len(sc.Rounds)) {
		return true
	}
	sc.Consulted = max(sc.Consulted, int(r))
	groups := sc.Rounds[r]
	return groups[sc.node(from)] == groups[sc.node(to)]
}

// GST is when the last scheduled round ends.
func (sc *TwinsScenario) GST() uint64 { return uint64(len(sc.Rounds)) * sc.D }

func (sc *TwinsScenario) node(i Instance) int {
	if i.Side == 0 {
		return i.Replica
	}
	return sc.Replicas + slices.Index(sc.Twins, i.Replica)
}

func (sc *TwinsScenario) nodeName(k int) string {
	if k < sc.Replicas {
		return fmt.Sprint(k)
	}
	return fmt.Sprintf("%d'", sc.Twins[k-sc.Replicas])
}

// String describes the scenario completely:
// "n=4 twins=[2] D=80 r0={0 1 2}{3 2'} r1={0 1 2 3 2'} r2={0 2'}{1}{2 3}".
func (sc *TwinsScenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "n=%d twins=%v D=%d", sc.Replicas, sc.Twins, sc.D)
	for r, groups := range sc.Rounds {
		fmt.Fprintf(&b, " r%d=%s", r, formatGroups(groups, sc.nodeName))
	}
	return b.String()
}

// Twins runs' protocol timing: T = twinsViewTicks ticks of twinsTick time
// units, short so that a run passes through its rounds quickly, and rounds
// of 2T.
const (
	twinsTick      = 10
	twinsViewTicks = 4
	twinsD         = 2 * twinsTick * twinsViewTicks
)

// Options is the run of the scenario: two clients with one session each and
// 4+R operations for R rounds (the partitions stretch them over most
// rounds; the suites log the latest round each run reached), a reordering
// network that loses nothing (the partitions are the faults), checkpoints
// every two sequence numbers so that partitioned replicas catch up by state
// transfer.
func (sc *TwinsScenario) Options(seed uint64) Options {
	rng := newRand(seed ^ 0x7a1)
	opts := Options{
		Seed:       seed,
		Replicas:   sc.Replicas,
		Clients:    2,
		Sessions:   1,
		Operations: 4 + len(sc.Rounds),
		Keys:       2,
		Network:    Network{MinDelay: 1, MaxDelay: uint64(2 + rng.IntN(12))},
		TickEvery:  twinsTick,
		Deadline:   sc.GST() + 1_000_000,
		Replica: pbft.Config{
			CheckpointInterval: 2,
			MaxBatchSize:       1 + rng.IntN(2),
			MaxInflightBatches: uint64(1 + rng.IntN(2)),
			StatusTicks:        2,
			ViewChangeTicks:    twinsViewTicks,
			StateChunkSize:     64,
		},
		RetransmitTicks: 20,
		Partitions:      sc,
	}
	for _, t := range sc.Twins {
		opts.Adversaries = append(opts.Adversaries, Adversary{Replica: t, Kind: byzantine.Twin})
	}
	return opts
}

// setPartitions lists every partition of nodes elements into between lo and
// hi groups, as restricted growth strings (element 0 in group 0, each
// element in an existing group or the next new one): each partition once,
// whatever the groups' labels.
func setPartitions(nodes, lo, hi int) [][]int {
	var out [][]int
	cur := make([]int, nodes)
	var rec func(k, groups int)
	rec = func(k, groups int) {
		if k == nodes {
			if groups >= lo {
				out = append(out, slices.Clone(cur))
			}
			return
		}
		for g := 0; g <= groups && g < hi; g++ {
			cur[k] = g
			rec(k+1, max(groups, g+1))
		}
	}
	rec(0, 0)
	return out
}

// normalize relabels groups in order of first appearance.
func normalize(groups []int) []int {
	label := make(map[int]int)
	out := make([]int, len(groups))
	for k, g := range groups {
		if _, ok := label[g]; !ok {
			label[g] = len(label)
		}
		out[k] = label[g]
	}
	return out
}

// TwinsSpace is every Twins scenario of n replicas, one of them twinned,
// over Rounds rounds of which at most Partitioned split the n+1 nodes: the
// twin (which views it leads), and for each round either full connectivity
// or one of the P partitions of the nodes into two or three groups (P = 40
// for n=4). A scenario is written as its twin and its choices by round: 0
// for a connected round, 1+p for partition p in setPartitions' order.
// Scenarios are numbered from 0 to Size()-1 by twin, then by their choices
// in lexicographic order.
//
// Symmetric duplicates removed: partitions are unlabelled (restricted growth
// strings: {0 1}{2 3 3'} and {2 3 3'}{0 1} are one partition), and the two
// instances of the twin are interchangeable: swapping them in every round
// gives the same scenario, and of each such pair only the one whose choices
// come first in lexicographic order runs. Nothing else is removed: the
// primary of view v is v mod n, and a relabelling of the other replicas
// changes who leads which view (every replica leads one of the views before
// or after GST), so it is not a symmetry of PBFT.
//
// Identical runs shared (Explore): all runs of a space use one seed, and a
// run is a function of the rounds it consulted, so scenarios that differ
// only in rounds their run never reached (it ended first) run once.
type TwinsSpace struct {
	Replicas, Rounds, Partitioned int
	partitions                    [][]int
	swapped                       []int // by twin, then partition: the partition with the twin's instances swapped
	fixed                         int   // partitions the swap leaves alone (the same for every twin)
}

// NewTwinsSpace is the space of n replicas (one twin) over rounds rounds, at
// most partitioned of them partitioned.
func NewTwinsSpace(n, rounds, partitioned int) *TwinsSpace {
	sp := &TwinsSpace{Replicas: n, Rounds: rounds, Partitioned: min(partitioned, rounds), partitions: setPartitions(n+1, 2, 3)}
	index := make(map[string]int)
	for i, p := range sp.partitions {
		index[fmt.Sprint(p)] = i
	}
	for t := range n {
		for i, p := range sp.partitions {
			q := slices.Clone(p)
			q[t], q[n] = q[n], q[t]
			j := index[fmt.Sprint(normalize(q))]
			sp.swapped = append(sp.swapped, j)
			if t == 0 && i == j {
				sp.fixed++
			}
		}
	}
	return sp
}

// Partitions is P, the number of partitions a round chooses from.
func (sp *TwinsSpace) Partitions() int { return len(sp.partitions) }

// sequences counts the choices for rounds rounds with at most d
// partitioned, each partitioned round taking one of p partitions.
func sequences(rounds, d int, p uint64) uint64 {
	if d < 0 {
		return 0
	}
	total, binom, pj := uint64(0), uint64(1), uint64(1)
	for j := 0; j <= min(d, rounds); j++ {
		total += binom * pj
		binom = binom * uint64(rounds-j) / uint64(j+1)
		pj *= p
	}
	return total
}

// Size is the number of scenarios before symmetric duplicates are removed.
func (sp *TwinsSpace) Size() uint64 {
	return uint64(sp.Replicas) * sequences(sp.Rounds, sp.Partitioned, uint64(len(sp.partitions)))
}

// Distinct is the number of scenarios left once symmetric duplicates are
// removed.
func (sp *TwinsSpace) Distinct() uint64 {
	return uint64(sp.Replicas) * sp.orbits(0, true, sp.Partitioned)
}

// orbits counts the classes of completions of a prefix (choices for its
// first rounds) with d partitioned rounds left to place, by Burnside over
// the swap of the twin's instances: completions it leaves alone count
// once, the others pair up; a prefix the swap changes (not selfImage)
// pairs up with its image as a whole.
func (sp *TwinsSpace) orbits(prefix int, selfImage bool, d int) uint64 {
	rest := sp.Rounds - prefix
	all := sequences(rest, d, uint64(len(sp.partitions)))
	if !selfImage {
		return all
	}
	return (all + sequences(rest, d, uint64(sp.fixed))) / 2
}

// mirror is the swap's image of choices under twin t.
func (sp *TwinsSpace) mirror(t int, choices []int) []int {
	out := make([]int, len(choices))
	for k, x := range choices {
		if x > 0 {
			x = 1 + sp.swapped[t*len(sp.partitions)+x-1]
		}
		out[k] = x
	}
	return out
}

// Index is the number of the scenario with twin t and the given choices
// for its first rounds, the rest connected.
func (sp *TwinsSpace) Index(t int, choices []int) uint64 {
	p := uint64(len(sp.partitions))
	i := uint64(t) * sequences(sp.Rounds, sp.Partitioned, p)
	d := sp.Partitioned
	for k, x := range choices {
		if x == 0 {
			continue
		}
		rest := sp.Rounds - k - 1
		i += sequences(rest, d, p) + uint64(x-1)*sequences(rest, d-1, p)
		d--
	}
	return i
}

// choices unranks scenario i into its twin and its choices by round.
func (sp *TwinsSpace) choices(i uint64) (twin int, choices []int) {
	p := uint64(len(sp.partitions))
	per := sequences(sp.Rounds, sp.Partitioned, p)
	twin, i = int(i/per), i%per
	d := sp.Partitioned
	for k := range sp.Rounds {
		rest := sp.Rounds - k - 1
		connected := sequences(rest, d, p)
		if i < connected {
			choices = append(choices, 0)
			continue
		}
		i -= connected
		each := sequences(rest, d-1, p)
		choices = append(choices, 1+int(i/each))
		i %= each
		d--
	}
	return twin, choices
}

// Scenario i of the space.
func (sp *TwinsSpace) Scenario(i uint64) *TwinsScenario {
	return sp.scenario(sp.choices(i))
}

func (sp *TwinsSpace) scenario(t int, choices []int) *TwinsScenario {
	sc := &TwinsScenario{Replicas: sp.Replicas, Twins: []int{t}, D: twinsD}
	for _, x := range choices {
		groups := make([]int, sp.Replicas+1)
		if x > 0 {
			groups = sp.partitions[x-1]
		}
		sc.Rounds = append(sc.Rounds, groups)
	}
	return sc
}

// TwinsRun is one run of an exploration: the scenario that ran, its
// number, the number of the last scenario that shares its choices up to
// the latest round the run consulted (they all run the same), and how many
// classes of scenarios (symmetric duplicates removed) the run stands for.
type TwinsRun struct {
	Scenario    *TwinsScenario
	Index, Last uint64
	Classes     uint64
}

// Explore runs one scenario of each class of identical runs, in the order
// of their numbers: run runs a scenario; the rounds after the latest it
// consulted could be anything, so every scenario that shares its choices
// up to that round stands with it (they follow it in the order, and are
// skipped), and the function run returned records it with the number of
// scenario classes it stands for.
// Blocks of scenarios that are the mirror images of earlier ones are
// skipped without running. The scenarios of each twin and round-0 choice
// go to one of workers goroutines.
func (sp *TwinsSpace) Explore(workers int, run func(*TwinsScenario) (done func(TwinsRun))) {
	per := len(sp.partitions) + 1
	parallel(workers, sp.Replicas*per, func(root int) {
		t, x := root/per, root%per
		if x > 0 && sp.Partitioned == 0 {
			return
		}
		choices := make([]int, sp.Rounds)
		choices[0] = x
		for {
			block := 0 // the block of scenarios sharing choices[:block] is done
			if k, mirrored := sp.mirrored(t, choices); mirrored {
				block = k + 1
			} else {
				sc := sp.scenario(t, choices)
				done := run(sc)
				block = min(sc.Consulted+1, sp.Rounds)
				prefix := choices[:block]
				d := sp.Partitioned - partitioned(prefix)
				i := sp.Index(t, choices)
				done(TwinsRun{Scenario: sc, Index: i, Last: i + sequences(sp.Rounds-block, d, uint64(len(sp.partitions))) - 1,
					Classes: sp.orbits(block, slices.Equal(prefix, sp.mirror(t, prefix)), d)})
			}
			if !sp.next(choices, block) {
				return
			}
		}
	})
}

// mirrored reports whether choices come after their mirror image, and the
// first round k where they differ: every scenario that shares choices[:k+1]
// then does too.
func (sp *TwinsSpace) mirrored(t int, choices []int) (k int, after bool) {
	m := sp.mirror(t, choices)
	for k := range choices {
		if choices[k] != m[k] {
			return k, choices[k] > m[k]
		}
	}
	return 0, false
}

// next moves choices to the first scenario after every one that shares
// choices[:block], keeping round 0's choice; false when there is none.
func (sp *TwinsSpace) next(choices []int, block int) bool {
	for k := block - 1; k >= 1; k-- {
		x := choices[k]
		if x < len(sp.partitions) && (x > 0 || partitioned(choices[:k]) < sp.Partitioned) {
			choices[k]++
			clear(choices[k+1:])
			return true
		}
	}
	return false
}

func partitioned(choices []int) int {
	n := 0
	for _, x := range choices {
		if x > 0 {
			n++
		}
	}
	return n
}

// RandomTwinsScenario draws a scenario of n replicas with the given number
// of twins over 1 to maxRounds rounds, each round fully connected (one in
// four) or a uniformly random partition of the nodes into two or three
// groups.
func RandomTwinsScenario(seed uint64, n, twins, maxRounds int) *TwinsScenario {
	rng := newRand(seed ^ 0x7a115)
	rounds := 1 + rng.IntN(maxRounds)
	sc := &TwinsScenario{Replicas: n, Twins: rng.Perm(n)[:twins], D: twinsD}
	slices.Sort(sc.Twins)
	for range rounds {
		if rng.IntN(4) == 0 {
			sc.Rounds = append(sc.Rounds, make([]int, n+twins))
		} else {
			sc.Rounds = append(sc.Rounds, randomPartition(rng, n+twins))
		}
	}
	return sc
}

// randomPartition draws a partition of nodes elements into two or three
// groups uniformly: the number of groups in proportion to how many
// partitions have it (Stirling numbers of the second kind), then a uniform
// surjection onto that many groups (each partition is k! of them).
func randomPartition(rng *rand.Rand, nodes int) []int {
	two := 1<<(nodes-1) - 1                         // S(nodes, 2)
	three := (pow(3, nodes) - 3*(1<<nodes) + 3) / 6 // S(nodes, 3)
	k := 2
	if rng.IntN(two+three) >= two {
		k = 3
	}
	for {
		groups := make([]int, nodes)
		used := make(map[int]bool)
		for i := range groups {
			groups[i] = rng.IntN(k)
			used[groups[i]] = true
		}
		if len(used) == k {
			return normalize(groups)
		}
	}
}

func pow(b, e int) int {
	r := 1
	for range e {
		r *= b
	}
	return r
}

// parallel runs job(i) for i in [0, count) on workers goroutines.
func parallel(workers, count int, job func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				job(i)
			}
		}()
	}
	wg.Wait()
}
