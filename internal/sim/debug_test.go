// Tools for hunting a failing seed; they skip unless asked for.
//
//	DEBUG_SEED=S DEBUG_N=4 [DEBUG_WATCH=id DEBUG_AFTER=time DEBUG_ALL=1] go test ./internal/sim -run DebugSeed -v
//
// replays seed S and prints each replica's end state, the clients' unanswered
// requests, and the messages replica DEBUG_WATCH dropped after DEBUG_AFTER.
// DEBUG_KINDS=1 runs every adversary as the primary (n=7: the first two).
package sim

import (
	"errors"
	"os"
	"testing"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
)

func TestDebugSeed(t *testing.T) {
	seed := envUint(t, "DEBUG_SEED", 0)
	if seed == 0 {
		t.Skip()
	}
	opts := RandomOptions(seed, int(envUint(t, "DEBUG_N", 4)), 200)
	opts.Deadline = envUint(t, "DEBUG_DEADLINE", 2000000)
	s, _ := New(opts)
	watch := int(envUint(t, "DEBUG_WATCH", 99))
	shown := 0
	s.debugStep = func(to, from int, err error) {
		if to == watch && s.now > envUint(t, "DEBUG_AFTER", 0) && shown < 40 && (os.Getenv("DEBUG_ALL") != "" || !errors.Is(err, pbft.ErrOutsideWindow)) {
			shown++
			t.Logf("t=%d %d->%d: %v", s.now, from, to, err)
		}
	}
	st, err := s.Run()
	t.Logf("%+v err=%v opts=%+v adv=%v outages=%v", st, err, opts.Replica, opts.Adversaries, opts.Outages)
	for _, n := range s.replicas {
		t.Logf("%v %v changing=%v slots=%d transfers=%d", n.r, n.adv, n.r.ViewChanging(), n.r.RetainedSlots(), n.r.Stats().StateTransfers)
	}
	for ci, c := range s.clients {
		for _, ss := range c.sessions {
			if ss.core.Outstanding() != nil {
				t.Logf("client %d session %d outstanding ts %d left %d", ci, ss.core.Outstanding().Session, ss.core.Outstanding().Timestamp, ss.left)
			}
		}
	}
}

func TestDebugCost(t *testing.T) {
	if envUint(t, "DEBUG_COST", 0) == 0 {
		t.Skip()
	}
	n := int(envUint(t, "DEBUG_N", 4))
	for seed := uint64(1); seed <= 20; seed++ {
		opts := RandomOptions(seed, n, 200)
		s, _ := New(opts)
		st, err := s.Run()
		t.Logf("seed %d adv=%v events=%d sent=%d end=%d completed=%d err=%v", seed, opts.Adversaries, st.Events, st.Sent, st.EndTime, st.Completed, err)
	}
}

func TestDebugPrimaryKinds(t *testing.T) {
	if envUint(t, "DEBUG_KINDS", 0) == 0 {
		t.Skip()
	}
	for _, k := range randomKinds {
		for _, n := range []int{4, 7} {
			opts := RandomOptions(7, n, 200)
			opts.Adversaries, opts.Outages, opts.BeyondF = []Adversary{{Replica: 0, Kind: k}}, nil, false
			if n == 7 {
				opts.Adversaries = append(opts.Adversaries, Adversary{Replica: 1, Kind: k})
				if k == byzantine.BadNewView {
					opts.Adversaries[0].Kind = byzantine.Silent
				}
			}
			s, _ := New(opts)
			st, err := s.Run()
			t.Logf("%v n=%d: completed %d end %d views %d err %v", k, n, st.Completed, st.EndTime, s.replicas[2].r.View(), err)
		}
	}
}
