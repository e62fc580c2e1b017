package bench

import (
	"fmt"
	"slices"
	"time"
)

// schedule is the run's timed fault actions in order, and the events they
// left for the report.
type schedule struct {
	measured time.Time
	actions  []action
	events   []Event
	// attacks runs the client attacks; set by Run before the first action.
	attacks *attackSet
}

type action struct {
	at    time.Time
	apply func(target, *partition, *workload) (*killRecord, error)
}

// killRecord is when the primary was killed and the view it led.
type killRecord struct {
	at   time.Time
	view uint64
}

func newSchedule(cfg Config, measured time.Time) *schedule {
	s := &schedule{measured: measured}
	for _, f := range cfg.Faults {
		if id, mode, ok := f.ReplicaMode(cfg.Replicas); ok {
			s.events = append(s.events, Event{AtS: 0, What: fmt.Sprintf("replica %d runs --fault %s", id, mode)})
			continue
		}
		switch f.Kind {
		case KillPrimary:
			s.actions = append(s.actions, action{at: measured.Add(f.At), apply: s.killPrimary})
		case Partition:
			s.actions = append(s.actions, action{at: measured.Add(f.At), apply: s.cut(f.Replica)})
			if f.Until > 0 {
				s.actions = append(s.actions, action{at: measured.Add(f.Until), apply: s.heal(f.Replica)})
			}
		case FloodClient, LargeRequests, StatusSpam:
			s.actions = append(s.actions, action{at: measured.Add(f.At), apply: s.startAttack(f)})
			if f.Until > 0 {
				s.actions = append(s.actions, action{at: measured.Add(f.Until), apply: s.stopAttack(f)})
			}
		}
	}
	slices.SortStableFunc(s.actions, func(a, b action) int { return a.at.Compare(b.at) })
	return s
}

// next pops the next action.
func (s *schedule) next() (action, bool) {
	if len(s.actions) == 0 {
		return action{}, false
	}
	a := s.actions[0]
	s.actions = s.actions[1:]
	return a, true
}

func (s *schedule) event(what string) {
	s.events = append(s.events, Event{AtS: time.Since(s.measured).Seconds(), What: what})
}

// killPrimary kills the primary of the highest view a client has seen a
// result from: the replica the cluster is following now.
func (s *schedule) killPrimary(t target, _ *partition, w *workload) (*killRecord, error) {
	view := w.view.Load()
	id := uint32(view % uint64(t.cluster().N()))
	at := time.Now()
	if err := t.kill(id); err != nil {
		return nil, fmt.Errorf("kill-primary: %w", err)
	}
	s.event(fmt.Sprintf("killed replica %d, primary of view %d", id, view))
	return &killRecord{at: at, view: view}, nil
}

func (s *schedule) cut(replica int) func(target, *partition, *workload) (*killRecord, error) {
	return func(_ target, p *partition, _ *workload) (*killRecord, error) {
		p.set(replica)
		s.event(fmt.Sprintf("replica %d cut off", replica))
		return nil, nil
	}
}

func (s *schedule) heal(replica int) func(target, *partition, *workload) (*killRecord, error) {
	return func(_ target, p *partition, _ *workload) (*killRecord, error) {
		p.heal()
		s.event(fmt.Sprintf("replica %d reconnected", replica))
		return nil, nil
	}
}

func (s *schedule) startAttack(f Fault) func(target, *partition, *workload) (*killRecord, error) {
	return func(target, *partition, *workload) (*killRecord, error) {
		if err := s.attacks.start(f); err != nil {
			return nil, fmt.Errorf("--fault %q: %w", f.Spec, err)
		}
		s.event(fmt.Sprintf("%s started: %s", f.Kind, describeAttack(f.Kind, s.attacks.options(f.Kind))))
		return nil, nil
	}
}

func (s *schedule) stopAttack(f Fault) func(target, *partition, *workload) (*killRecord, error) {
	return func(target, *partition, *workload) (*killRecord, error) {
		st, err := s.attacks.stop(f)
		if err != nil {
			return nil, fmt.Errorf("--fault %q: %w", f.Spec, err)
		}
		s.event(fmt.Sprintf("%s stopped after %s", f.Kind, st.describeDone()))
		return nil, nil
	}
}
