package sim

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Outage takes a replica down (Crash: it restarts from its store, which
// kept only what was synced) or cuts it off from everyone (a partition),
// from At for Duration time units. A Torn crash waits, from At, for the
// replica's next flush that writes something binding and lands inside it:
// after some of the store's writes or after some of the sends they guard,
// drawn from the seed.
type Outage struct {
	Replica      int
	Crash, Torn  bool
	At, Duration uint64
}

func (o Outage) String() string {
	kind := "cut off"
	switch {
	case o.Torn:
		kind = "torn crash"
	case o.Crash:
		kind = "crash"
	}
	return fmt.Sprintf("%d:%s@%d+%d", o.Replica, kind, o.At, o.Duration)
}

// scheduleOutages puts every outage's start and end on the event queue.
func (s *Sim) scheduleOutages() {
	for _, o := range s.opts.Outages {
		s.faultsEnd = max(s.faultsEnd, o.At+o.Duration)
		s.schedule(event{at: o.At, action: func() { s.startOutage(o) }})
		s.schedule(event{at: o.At + o.Duration, action: func() { s.endOutage(o) }})
	}
}

func (s *Sim) startOutage(o Outage) {
	n := s.replicas[o.Replica]
	if o.Torn {
		n.tornAt = &o
		return
	}
	n.cutOff = true
	if o.Crash {
		n.down = true
	}
}

func (s *Sim) endOutage(o Outage) {
	n := s.replicas[o.Replica]
	s.check.progressAt = s.now // the stall clock starts again once faults stop
	if o.Torn && n.tornAt != nil {
		// No flush came to tear: it crashes now, between two events.
		n.tornAt = nil
		n.down = true
	}
	n.cutOff = false
	if !o.Crash {
		return
	}
	s.restart(o.Replica)
}

// tearFlush arms the torn crash waiting for n in a flush of a Ready with
// sends messages: it stops the store after 0 to 2 of its operations, or
// lets the writes through and returns how many messages leave before the
// crash.
func (s *Sim) tearFlush(n *node, sends int) int {
	n.tornAt = nil
	at := s.rng.IntN(3 + sends + 1)
	if at < 3 {
		n.store.FailAfter(at)
		return sends // Persist fails; if it needed fewer writes, the crash comes after the sends
	}
	return at - 3
}

// powerCut stops replica id at once: what it has not sent is lost, and so
// is every write its store had not synced.
func (s *Sim) powerCut(id int) {
	n := s.replicas[id]
	n.down, n.cutOff, n.tornAt = true, true, nil
	n.store.FailAfter(0)
}

// restart brings replica id back from its store as the driver does:
// everything not synced is gone, the persistence rule reads the rest.
func (s *Sim) restart(id int) {
	n := s.replicas[id]
	n.down, n.cutOff = false, false
	n.store.Crash()
	persister, durable, err := pbft.OpenPersister(n.store, uint32(id))
	if err != nil {
		s.err = fmt.Errorf("replica %d restart: %w", id, err)
		return
	}
	cfg := n.cfg
	cfg.Service = kv.New()
	r, err := pbft.Restart(cfg, durable)
	if err != nil {
		s.err = fmt.Errorf("replica %d restart: %w", id, err)
		return
	}
	n.r, n.persister = r, persister
	n.restarts++
	s.check.restarted(id, r.LastExecuted())
	s.flush(id)
}
