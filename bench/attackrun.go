package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/bulwark-bft/bulwark"
)

// AttackReport is one client attack of a run, as the report shows it.
type AttackReport struct {
	Spec string `json:"spec"`
	AttackStats
	// FromS and ToS are when it started and stopped, in seconds into the
	// measured phase.
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
}

// Baseline is the fault-free run a run with client attacks is compared
// with: the same configuration without the attacks, run first on a fresh
// cluster.
type Baseline struct {
	Throughput  float64     `json:"throughput"`
	LatencyMS   Percentiles `json:"latency_ms"`
	Ops         int64       `json:"ops"`
	Errors      int64       `json:"errors"`
	ViewChanges uint64      `json:"view_changes"`
}

// attackSet runs a run's client attacks.
type attackSet struct {
	ctx      context.Context
	c        *bulwark.Cluster
	base     AttackOptions
	logger   *slog.Logger
	measured time.Time
	running  map[FaultKind]*runningAttack
	done     []AttackReport
}

type runningAttack struct {
	f     Fault
	a     *Attack
	start time.Time
}

func newAttackSet(ctx context.Context, cfg Config, c *bulwark.Cluster, measured time.Time, logger *slog.Logger) *attackSet {
	return &attackSet{
		ctx: ctx, c: c, logger: logger, measured: measured, running: map[FaultKind]*runningAttack{},
		base: AttackOptions{Service: cfg.Service, Timeout: cfg.Timeout, Seed: uint64(cfg.Seed), Size: floodSize(cfg)},
	}
}

// largeRequestTimeout bounds each request of the large-requests attack.
const largeRequestTimeout = time.Minute

// floodSize: the flood sends requests of the workload's payload, so that
// the legitimate clients and the flood differ only in number.
func floodSize(cfg Config) int { return max(cfg.Payload, 1) }

// options are the options kind runs with.
func (s *attackSet) options(kind FaultKind) AttackOptions {
	o := s.base
	if kind != FloodClient {
		o.Size = 0 // the kind's default
	}
	if kind == LargeRequests {
		// A large request waits behind its own key's others (the client
		// keeps at most 8 MiB outstanding) and, while legitimate clients
		// are served, gets a sixteenth of the pipeline: on a loaded machine
		// 20 sessions of 1 MB take longer than the legitimate clients'
		// timeout. They are legal, so they must complete, in their time.
		o.Timeout = max(o.Timeout, largeRequestTimeout)
	}
	return o.withDefaults(kind)
}

func (s *attackSet) start(f Fault) error {
	if s.running[f.Kind] != nil {
		return fmt.Errorf("%s is already running", f.Kind)
	}
	a, err := StartAttack(s.ctx, f.Kind, s.c, s.options(f.Kind), s.logger)
	if err != nil {
		return err
	}
	s.running[f.Kind] = &runningAttack{f: f, a: a, start: time.Now()}
	return nil
}

func (s *attackSet) stop(f Fault) (AttackStats, error) {
	r := s.running[f.Kind]
	if r == nil {
		return AttackStats{}, fmt.Errorf("%s is not running", f.Kind)
	}
	delete(s.running, f.Kind)
	end := time.Now()
	st, err := r.a.Stop()
	s.done = append(s.done, AttackReport{
		Spec: r.f.Spec, AttackStats: st,
		FromS: r.start.Sub(s.measured).Seconds(), ToS: end.Sub(s.measured).Seconds(),
	})
	return st, err
}

// stopAll stops the attacks still running (those that last to the end of
// the run) and returns every attack's report, in the order they started.
func (s *attackSet) stopAll() ([]AttackReport, error) {
	var errs []error
	for _, r := range s.running {
		_, err := s.stop(r.f)
		errs = append(errs, err)
	}
	slices.SortFunc(s.done, func(a, b AttackReport) int {
		switch {
		case a.FromS < b.FromS:
			return -1
		case a.FromS > b.FromS:
			return 1
		}
		return 0
	})
	return s.done, errors.Join(errs...)
}

// describeAttack says what an attack with options o sends.
func describeAttack(kind FaultKind, o AttackOptions) string {
	switch kind {
	case FloodClient:
		return fmt.Sprintf("one client key, %s sessions busy with %s-byte operations", thousands(int64(o.Sessions)), thousands(int64(o.Size)))
	case LargeRequests:
		return fmt.Sprintf("one client key, %d sessions of %s-byte operations", o.Sessions, thousands(int64(o.Size)))
	case StatusSpam:
		return fmt.Sprintf("%d client keys sending Status queries back to back to replicas %v", o.Keys, o.Targets)
	}
	return string(kind)
}

// describeDone says what the attack achieved.
func (st AttackStats) describeDone() string {
	secs := max(st.Duration.Seconds(), 1e-9)
	if st.Kind == StatusSpam {
		return fmt.Sprintf("%.1f s: %s queries written, %s answered (%s/s)", st.Duration.Seconds(),
			thousands(st.Sent), thousands(st.Completed), thousands(round(float64(st.Completed)/secs)))
	}
	s := fmt.Sprintf("%.1f s: %s requests completed (%s/s), %s errors, max latency %s ms", st.Duration.Seconds(),
		thousands(st.Completed), thousands(round(float64(st.Completed)/secs)), thousands(st.Errors),
		millis(float64(st.MaxLatency)/float64(time.Millisecond)))
	if st.FirstError != "" {
		s += " (first: " + st.FirstError + ")"
	}
	return s
}
