package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names one kind of fault a benchmark run can inject (`--fault`).
type FaultKind string

// The faults a run can inject. Kill-primary and partition act at a time of
// the measured phase; silent-primary, equivocate, slow-primary and
// wrong-result make one replica misbehave for the whole run through the
// driver's `replica --fault` modes, so they take no time. The client attacks
// (flood-client, large-requests, status-spam; see attacks.go) are extra
// clients in this process, during the whole measured phase or from T1 (to T2).
const (
	KillPrimary   FaultKind = "kill-primary"   // kill-primary@T: the primary at T is killed (SIGKILL for processes)
	SilentPrimary FaultKind = "silent-primary" // replica 0 runs with --fault silent from the start
	Equivocate    FaultKind = "equivocate"     // replica 0 runs with --fault equivocate
	SlowPrimary   FaultKind = "slow-primary"   // replica 0 runs with --fault slow
	WrongResult   FaultKind = "wrong-result"   // the last replica runs with --fault wrong-result
	Partition     FaultKind = "partition"      // partition:R@T1-T2: replica R cut off from T1 until T2 (or for good without -T2)
)

// faultKinds lists every kind in the order the error messages give them.
var faultKinds = []FaultKind{KillPrimary, SilentPrimary, Equivocate, SlowPrimary, WrongResult, Partition,
	FloodClient, LargeRequests, StatusSpam}

// driverModes maps the kinds that run a replica in a driver fault mode to the
// mode's name (an internal/byzantine.Kind).
var driverModes = map[FaultKind]string{
	SilentPrimary: "silent",
	Equivocate:    "equivocate",
	SlowPrimary:   "slow",
	WrongResult:   "wrong-result",
}

// Fault is one parsed `--fault` spec.
type Fault struct {
	Spec    string        `json:"spec"`
	Kind    FaultKind     `json:"kind"`
	At      time.Duration `json:"at_ns"`              // from the start of the measured phase (after warm-up)
	Until   time.Duration `json:"until_ns,omitempty"` // partition or client attack end; 0 = never heals, or the end of the run
	Replica int           `json:"replica"`            // the replica a partition cuts off; -1 otherwise
}

// ParseFault parses one spec: kill-primary@T, silent-primary, equivocate,
// slow-primary, wrong-result, partition:R@T1-T2 or partition:R@T1, and the
// client attacks flood-client, large-requests and status-spam, each alone
// (the whole measured phase), @T1 (from T1 on) or @T1-T2. Times are Go
// durations (5s, 1500ms) counted from the start of the measured phase.
func ParseFault(spec string) (Fault, error) {
	fail := func(format string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("--fault %q: %w", spec, fmt.Errorf(format, args...))
	}
	head, when, timed := strings.Cut(spec, "@")
	name, arg, hasArg := strings.Cut(head, ":")
	kind := FaultKind(name)
	f := Fault{Spec: spec, Kind: kind, Replica: -1}

	switch {
	case kind == KillPrimary:
		if hasArg {
			return fail("takes no replica (it kills whichever replica is primary at the time), e.g. kill-primary@5s")
		}
		if !timed {
			return fail("needs @TIME, e.g. kill-primary@5s")
		}
		at, err := parseFaultTime(when)
		if err != nil {
			return fail("%w", err)
		}
		f.At = at
	case kind == Partition:
		if !hasArg || !timed {
			return fail("needs a replica and a time, e.g. partition:1@5s-10s, or partition:1@5s to never heal")
		}
		r, err := strconv.Atoi(arg)
		if err != nil || r < 0 {
			return fail("replica %q is not a replica id (0, 1, ...)", arg)
		}
		f.Replica = r
		if f.At, f.Until, err = parseFaultRange(when); err != nil {
			return fail("%w", err)
		}
	case clientAttacks[kind]:
		if hasArg {
			return fail("takes no replica: it is a client, e.g. %s or %s@2s-8s", kind, kind)
		}
		if timed {
			var err error
			if f.At, f.Until, err = parseFaultRange(when); err != nil {
				return fail("%w", err)
			}
		}
	case driverModes[kind] != "":
		if hasArg || timed {
			who := "replica 0"
			if kind == WrongResult {
				who = "the last replica"
			}
			return fail("takes no replica or @TIME: %s runs with --fault %s for the whole run", who, driverModes[kind])
		}
	default:
		return fail("unknown fault %q; known: %s", name, knownFaults())
	}
	return f, nil
}

// parseFaultRange parses T1-T2 or T1 (a partition that never heals).
func parseFaultRange(s string) (at, until time.Duration, err error) {
	if strings.HasPrefix(s, "-") {
		return 0, 0, errors.New("times must not be negative")
	}
	from, to, healed := strings.Cut(s, "-")
	if at, err = parseFaultTime(from); err != nil {
		return 0, 0, err
	}
	if !healed {
		return at, 0, nil
	}
	if until, err = parseFaultTime(to); err != nil {
		return 0, 0, err
	}
	if until <= at {
		return 0, 0, fmt.Errorf("ends at %v, not after it starts at %v", until, at)
	}
	return at, until, nil
}

func parseFaultTime(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad time: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("time %v is negative", d)
	}
	return d, nil
}

func knownFaults() string {
	names := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// ParseFaults parses every spec and rejects schedules that contradict
// themselves: one replica given two fault modes (silent-primary,
// equivocate and slow-primary all pick replica 0, which runs with one mode
// only), the same mode or client attack twice, more than one kill-primary (the second would
// kill a primary chosen by the first's view change, which is a different
// experiment from the one the flag names), and overlapping partitions of one
// replica (which one heals it?).
func ParseFaults(specs []string) ([]Fault, error) {
	faults := make([]Fault, 0, len(specs))
	for _, spec := range specs {
		f, err := ParseFault(spec)
		if err != nil {
			return nil, err
		}
		for _, g := range faults {
			if err := conflict(g, f); err != nil {
				return nil, fmt.Errorf("--fault %q: %w", f.Spec, err)
			}
		}
		faults = append(faults, f)
	}
	return faults, nil
}

// conflict reports why b cannot run in the same schedule as a, or nil.
func conflict(a, b Fault) error {
	switch {
	case a.Kind == b.Kind && b.Kind == KillPrimary:
		return fmt.Errorf("only one kill-primary per run (already %q)", a.Spec)
	case a.Kind == b.Kind && (driverModes[b.Kind] != "" || clientAttacks[b.Kind]):
		return fmt.Errorf("given twice")
	case driverModes[a.Kind] != "" && driverModes[b.Kind] != "" && a.Kind != WrongResult && b.Kind != WrongResult:
		return fmt.Errorf("replica 0 already runs with --fault %s (from %q)", driverModes[a.Kind], a.Spec)
	case a.Kind == Partition && b.Kind == Partition && a.Replica == b.Replica && overlap(a, b):
		return fmt.Errorf("overlaps %q, which cuts off the same replica", a.Spec)
	}
	return nil
}

// overlap reports whether two partitions' intervals [At, Until) meet; an
// Until of 0 lasts to the end of the run.
func overlap(a, b Fault) bool {
	endsBefore := func(x, y Fault) bool { return x.Until != 0 && x.Until <= y.At }
	return !endsBefore(a, b) && !endsBefore(b, a)
}

// Validate checks the fault against the cluster size. Every fault but a
// partition needs replicas >= 4: with f = 0 a killed or misbehaving replica
// stops (or, for wrong-result, corrupts) the whole cluster, and the run would
// measure nothing but that. A partition of a small cluster is allowed, since
// watching it stall and resume is a fair experiment.
func (f Fault) Validate(replicas int) error {
	if clientAttacks[f.Kind] {
		return nil // no replica is faulty: any cluster may be attacked
	}
	if f.Kind == Partition {
		if f.Replica >= replicas {
			return fmt.Errorf("--fault %q: replica %d does not exist in a cluster of %d (ids 0 to %d)", f.Spec, f.Replica, replicas, replicas-1)
		}
		return nil
	}
	if replicas < 4 {
		return fmt.Errorf("--fault %q: needs at least 4 replicas to tolerate a fault, have %d", f.Spec, replicas)
	}
	return nil
}

// ReplicaMode tells, for the faults that run a replica in a driver fault
// mode, which replica of a cluster of the given size and the mode's name
// (silent, equivocate, slow, wrong-result). The primary faults take replica
// 0, the primary of view 0; wrong-result takes the last replica, so it stays
// a backup while the primary is honest. ok is false for the other kinds.
func (f Fault) ReplicaMode(replicas int) (replica int, mode string, ok bool) {
	mode, ok = driverModes[f.Kind]
	if !ok {
		return -1, "", false
	}
	if f.Kind == WrongResult {
		return replicas - 1, mode, true
	}
	return 0, mode, true
}
