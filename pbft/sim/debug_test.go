package sim

import (
	"errors"
	"os"

	"github.com/bulwark-bft/bulwark/pbft"
	"testing"
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
		t.Logf("%v %v slots=%d stats=%+v", n.r, n.adv, n.r.RetainedSlots(), n.r.Stats())
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
