package sim

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Outage takes a replica down (Crash: it restarts from its disk, losing
// unsynced writes) or cuts it off from everyone (a partition), from At for
// Duration time units.
type Outage struct {
	Replica      int
	Crash        bool
	At, Duration uint64
}

func (o Outage) String() string {
	kind := "cut off"
	if o.Crash {
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
	n.cutOff = true
	if o.Crash {
		n.down = true
	}
}

func (s *Sim) endOutage(o Outage) {
	n := s.replicas[o.Replica]
	n.cutOff = false
	s.check.progressAt = s.now // the stall clock starts again once faults stop
	if !o.Crash {
		return
	}
	n.down = false
	cfg := n.cfg
	cfg.Service = kv.New()
	r, err := pbft.Restart(cfg, n.disk.crash())
	if err != nil {
		s.err = fmt.Errorf("replica %d restart: %w", o.Replica, err)
		return
	}
	n.r = r
	n.restarts++
	s.check.restarted(o.Replica, r.LastExecuted())
	s.flush(o.Replica)
}
