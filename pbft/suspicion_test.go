package pbft

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// statusesFrom takes the pending Status messages replica id sent and
// reports whether any said it suspects the primary.
func (c *testCluster) statusesFrom(id int) (n int, suspects bool) {
	var rest []sent
	for _, s := range c.pending {
		if st := s.msg.GetStatus(); st != nil && s.from == id {
			n++
			suspects = suspects || st.GetSuspects()
			continue
		}
		rest = append(rest, s)
	}
	c.pending = rest
	return n, suspects
}

// tickPastTimeout ticks replica id until it suspected the primary: its
// view-change timer fired once to forward the requests it holds, and again
// because the primary still did not order them. It hears the others'
// Status every period (so it knows it is not cut off); nothing else is
// delivered, and its own messages stay pending.
func (c *testCluster) tickPastTimeout(id int) {
	c.t.Helper()
	r := c.reps[id]
	before := r.Stats().Suspicions
	for i := range 2*r.viewTimeout() + 2*r.cfg.StatusTicks {
		if i%r.cfg.StatusTicks == 0 {
			for j, o := range c.reps {
				if j != id {
					st := &wire.Status{View: o.view, LastExecuted: o.lastExec, StableSequence: o.low, Replica: uint32(j), ViewChanging: !o.active}
					must(c.t, c.reps[id].Step(FromReplica(uint32(j)), &wire.Message{Content: &wire.Message_Status{Status: st}}))
				}
			}
		}
		r.Tick()
		c.collect(id)
		if r.Stats().Suspicions > before || !r.active {
			return
		}
	}
	c.t.Fatalf("replica %d's timer did not fire", id)
}

// A backup whose timer fires alone (here: the primary never got the
// request) says it suspects the primary but sends no VIEW-CHANGE and stays
// in its view, taking part in it; once the request executes, it withdraws
// the suspicion. Before suspicions, such a replica moved to view 1 alone
// and waited there until the others changed views: stranded.
func TestLoneSuspicionStrandsNoReplica(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	c.exchangeStatus(0, 1, 2, 3)
	req := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	must(t, c.fromClient(1, req)) // only replica 1 holds it
	c.tickPastTimeout(1)
	r := c.reps[1]
	if r.ViewChanging() || r.View() != 0 {
		t.Fatalf("replica 1 changed view alone: view %d, changing %v", r.View(), r.ViewChanging())
	}
	if len(c.take(&wire.Message_ViewChange{})) != 0 {
		t.Fatal("replica 1 sent a VIEW-CHANGE on its own suspicion alone")
	}
	if _, suspects := c.statusesFrom(1); !suspects {
		t.Fatal("replica 1 did not tell its peers it suspects the primary")
	}
	// The request reaches the primary: it is ordered and executed, replica
	// 1 taking part, and the suspicion is withdrawn.
	must(t, c.fromClient(0, req))
	c.deliver(nil)
	if r.LastExecuted() != 1 || r.View() != 0 || r.suspecting {
		t.Fatalf("after the request executed: replica 1 executed %d in view %d, still suspecting %v", r.LastExecuted(), r.View(), r.suspecting)
	}
	r.broadcastStatus()
	c.collect(1)
	if _, suspects := c.statusesFrom(1); suspects {
		t.Fatal("replica 1 still says it suspects the primary after executing")
	}
}

// f+1 suspicions make the view change: here the primary starves a request
// replicas 1 and 2 hold; each sends its VIEW-CHANGE once it hears the
// other's suspicion, and replica 3 joins on their two VIEW-CHANGEs.
func TestFPlusOneSuspicionsChangeTheView(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	c.exchangeStatus(0, 1, 2, 3)
	req := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	must(t, c.fromClient(1, req))
	must(t, c.fromClient(2, req))
	c.tickPastTimeout(1)
	if c.reps[1].ViewChanging() {
		t.Fatal("replica 1 changed view on its own suspicion")
	}
	c.tickPastTimeout(2)
	// Replica 2 heard nothing yet: it suspects too, still in view 0.
	if c.reps[2].ViewChanging() {
		t.Fatal("replica 2 changed view before hearing replica 1")
	}
	for _, st := range c.take(&wire.Message_Status{}) { // the rest stays pending
		must(t, c.step(st.from, st.to, st.msg))
	}
	for _, id := range []int{1, 2} {
		if !c.reps[id].ViewChanging() || c.reps[id].View() != 1 {
			t.Fatalf("replica %d, after f+1 suspicions: view %d, changing %v", id, c.reps[id].View(), c.reps[id].ViewChanging())
		}
	}
	for _, vc := range c.take(&wire.Message_ViewChange{}) {
		_ = c.step(vc.from, vc.to, vc.msg) // a late copy may reach a replica already in view 1
	}
	if c.reps[3].View() != 1 {
		t.Fatalf("replica 3 did not join on f+1 VIEW-CHANGEs: view %d", c.reps[3].View())
	}
}

// A Byzantine replica may join a correct replica's lone suspicion and then
// withhold its own VIEW-CHANGE. The correct replica's VIEW-CHANGE carries
// both signed suspicions, so a replica still in the view joins on it
// instead of leaving the correct one alone in the next view; a
// VIEW-CHANGE with a single suspicion, or a forged one, is not joined.
func TestViewChangeCarryingFPlusOneSuspicionsIsJoined(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge bool
		join  bool
	}{{"valid suspicions", false, true}, {"the second suspicion forged", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 4, nil)
			c.exchangeStatus(0, 1, 2, 3)
			must(t, c.fromClient(1, c.request(kv.EncodePut([]byte("k"), []byte("v")))))
			c.tickPastTimeout(1)
			c.pending = nil
			// Replica 2, Byzantine, claims to suspect too, signed.
			s := &wire.Suspicion{View: 0, Replica: 2}
			s.Signature = c.signers[2].Sign(suspicionTranscript("test", 0, 2))
			if tc.forge {
				s.Signature = c.signers[3].Sign(suspicionTranscript("test", 0, 2))
			}
			st := &wire.Status{View: 0, Replica: 2, Suspects: true, Suspicion: s}
			must(t, c.step(2, 1, &wire.Message{Content: &wire.Message_Status{Status: st}}))
			vcs := c.take(&wire.Message_ViewChange{})
			if tc.forge {
				if len(vcs) != 0 {
					t.Fatal("replica 1 changed view on a forged suspicion")
				}
				return
			}
			if len(vcs) == 0 || !c.reps[1].ViewChanging() {
				t.Fatal("replica 1 did not change view on f+1 signed suspicions")
			}
			vc := vcs[0].msg.GetViewChange()
			if len(vc.GetSuspicions()) != 2 {
				t.Fatalf("its VIEW-CHANGE carries %d suspicions, want 2", len(vc.GetSuspicions()))
			}
			must(t, c.step(1, 3, vcs[0].msg)) // replica 2 sends nothing
			if got := c.reps[3].View() == 1 && c.reps[3].ViewChanging(); got != tc.join {
				t.Fatalf("replica 3 joined: %v, want %v", got, tc.join)
			}
			// Stripped of its suspicions, the same VIEW-CHANGE is one of one:
			// no join.
			c2 := newTestCluster(t, 4, nil)
			bare := proto.Clone(vcs[0].msg).(*wire.Message)
			bare.GetViewChange().Suspicions = bare.GetViewChange().Suspicions[:1]
			must(t, c2.step(1, 3, bare))
			if c2.reps[3].ViewChanging() {
				t.Fatal("replica 3 joined on one VIEW-CHANGE with one suspicion")
			}
		})
	}
}

// A replica waiting for a NEW-VIEW whose timer fires suspects the new view's
// primary rather than moving on alone: it stays waiting for view 1 and says
// so in its Status. With f+1 signed suspicions of view 1 it moves on to
// view 2, its VIEW-CHANGE carries them, and a replica still waiting for
// view 1 joins on it. (Moving on alone stranded a replica in the
// simulator's Twins runs: a twin at its side, the others delivered view 1's
// NEW-VIEW among themselves and never needed view 2.)
func TestLoneEscalationStrandsNoReplica(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	c.suspectViewOne()
	r := c.reps[3]
	for _, vc := range c.take(&wire.Message_ViewChange{}) {
		if vc.msg.GetViewChange().GetNewView() != 1 { // its own for view 1 is resent
			t.Fatalf("replica 3 sent a VIEW-CHANGE for view %d alone", vc.msg.GetViewChange().GetNewView())
		}
	}
	if r.View() != 1 {
		t.Fatalf("replica 3 moved on alone: view %d", r.View())
	}
	if _, suspects := c.statusesFrom(3); !suspects {
		t.Fatal("replica 3 did not say it suspects view 1's primary")
	}
	c.pending = nil
	s := &wire.Suspicion{View: 1, Replica: 2}
	s.Signature = c.signers[2].Sign(suspicionTranscript("test", 1, 2))
	must(t, r.Step(FromReplica(2), changingStatus(2, s)))
	c.collect(3)
	var vcs []sent
	for _, vc := range c.take(&wire.Message_ViewChange{}) {
		if vc.msg.GetViewChange().GetNewView() == 2 {
			vcs = append(vcs, vc)
		}
	}
	if r.View() != 2 || len(vcs) == 0 {
		t.Fatalf("with f+1 suspicions of view 1: replica 3 in view %d, %d VIEW-CHANGEs sent", r.View(), len(vcs))
	}
	if n := len(vcs[0].msg.GetViewChange().GetSuspicions()); n != 2 {
		t.Fatalf("its VIEW-CHANGE for view 2 carries %d suspicions, want 2", n)
	}
	must(t, c.step(3, 0, vcs[0].msg))
	if c.reps[0].View() != 2 {
		t.Fatalf("replica 0, waiting for view 1, did not join on f+1 suspicions of it: view %d", c.reps[0].View())
	}
}

// changingStatus is replica id's Status while it waits for view 1, with its
// suspicion s (or none).
func changingStatus(id int, s *wire.Suspicion) *wire.Message {
	return &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{
		View: 1, Replica: uint32(id), ViewChanging: true, Suspects: s != nil, Suspicion: s}}}
}

// suspectViewOne has replicas 0, 2 and 3 change to view 1 without its
// primary, replica 1, hearing of it, and ticks replica 3 until its timer
// fires and it suspects view 1. It returns the VIEW-CHANGEs replica 1 did
// not get.
func (c *testCluster) suspectViewOne() []sent {
	c.t.Helper()
	c.exchangeStatus(0, 1, 2, 3)
	for _, id := range []int{0, 2, 3} {
		c.reps[id].startViewChange(1)
		c.collect(id)
	}
	var withheld []sent
	c.deliver(func(s sent) bool {
		if s.to == 1 && isKind(s, &wire.Message_ViewChange{}) {
			withheld = append(withheld, s)
		}
		return s.to == 1 || !isKind(s, &wire.Message_ViewChange{})
	})
	r := c.reps[3]
	before := r.Stats().Suspicions
	for i := uint64(0); r.Stats().Suspicions == before; i++ {
		if i > 4*r.viewTimeout() {
			c.t.Fatal("replica 3's timer never fired while it waited for view 1's NEW-VIEW")
		}
		if i%r.cfg.StatusTicks == 0 {
			for _, id := range []int{0, 1, 2} {
				must(c.t, r.Step(FromReplica(uint32(id)), changingStatus(id, nil)))
			}
		}
		r.Tick()
		c.collect(3)
	}
	return withheld
}

// Entering the view ends a suspicion of it raised while waiting for its
// NEW-VIEW, and the replica says so at once: otherwise the others would
// count it against the primary now at work.
func TestEnteringTheViewEndsItsSuspicion(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	withheld := c.suspectViewOne()
	c.pending = withheld // view 1's primary gets the VIEW-CHANGEs at last
	for len(c.pending) > 0 {
		s := c.pending[0]
		c.pending = c.pending[1:]
		_ = c.step(s.from, s.to, s.msg) // late copies of VIEW-CHANGEs are refused, as they should be
	}
	r := c.reps[3]
	if r.View() != 1 || r.ViewChanging() {
		t.Fatalf("replica 3 did not enter view 1: view %d, changing %v", r.View(), r.ViewChanging())
	}
	if r.suspecting || r.statusSuspicion() != nil {
		t.Fatal("replica 3 still suspects view 1's primary after entering the view")
	}
}
