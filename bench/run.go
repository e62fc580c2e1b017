package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Run runs one benchmark: it starts the target, runs the clients through
// warm-up and the measured phase, applies the fault schedule, and reports.
// Progress lines go to progress once a second.
//
// With client attacks or a slow primary among the faults (and
// cfg.NoBaseline unset) it first runs the same configuration without them,
// on a cluster of its own, so that the report shows the legitimate
// clients' throughput under the fault next to the fault-free figure
// (Report.Baseline).
func Run(ctx context.Context, cfg Config, progress io.Writer, logger *slog.Logger) (rep *Report, err error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if progress == nil {
		progress = io.Discard
	}
	if !cfg.NoBaseline && slices.ContainsFunc(cfg.Faults, comparedToFaultFree) {
		base := cfg
		base.Faults = slices.DeleteFunc(slices.Clone(cfg.Faults), comparedToFaultFree)
		if cfg.DataDir != "" { // each run writes a testnet of its own
			base.DataDir = filepath.Join(cfg.DataDir, "baseline")
			cfg.DataDir = filepath.Join(cfg.DataDir, "attacked")
		}
		fmt.Fprintln(progress, "fault-free run first, without the client attacks and the slow primary, for the side-by-side figure")
		b, err := runOnce(ctx, base, progress, logger)
		if err != nil {
			return nil, fmt.Errorf("fault-free run: %w", err)
		}
		fmt.Fprintf(progress, "fault-free run: %.0f ops/s; now the run with the faults\n", b.Throughput)
		rep, err := runOnce(ctx, cfg, progress, logger)
		if err != nil {
			return nil, err
		}
		rep.Baseline = &Baseline{Throughput: b.Throughput, LatencyMS: b.LatencyMS, Ops: b.Ops, Errors: b.Errors, ViewChanges: b.ViewChanges}
		return rep, nil
	}
	return runOnce(ctx, cfg, progress, logger)
}

// runOnce is one run of a normalized configuration.
func runOnce(ctx context.Context, cfg Config, progress io.Writer, logger *slog.Logger) (rep *Report, err error) {
	cost := MeasureCrypto(200 * time.Millisecond)

	dir, cleanup, err := dataDir(cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	part := newPartition()
	tgt, err := startTarget(ctx, cfg, dir, part, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if tgt != nil {
			err = errors.Join(err, tgt.stop())
		}
	}()

	start := time.Now()
	rec := NewRecorder(start, cfg.Warmup)
	wl, err := startWorkload(ctx, cfg, tgt.cluster(), rec, logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, wl.stop()) }()

	measured := start.Add(cfg.Warmup)
	end := measured.Add(cfg.Duration)
	sch := newSchedule(cfg, measured)
	sch.attacks = newAttackSet(ctx, cfg, tgt.cluster(), measured, logger)
	defer func() {
		if _, aerr := sch.attacks.stopAll(); aerr != nil && err == nil {
			err = aerr
		}
	}()
	if err := waitUntil(ctx, measured, rec, progress); err != nil {
		return nil, err
	}
	view0, remote0, err := tgt.sample(ctx)
	if err != nil {
		return nil, err
	}
	local0 := localUsage()

	var kill *killRecord
	for {
		next, ok := sch.next()
		if !ok || next.at.After(end) {
			break
		}
		if err := waitUntil(ctx, next.at, rec, progress); err != nil {
			return nil, err
		}
		k, err := next.apply(tgt, part, wl)
		if err != nil {
			return nil, err
		}
		if k != nil {
			kill = k
		}
	}
	if err := waitUntil(ctx, end, rec, progress); err != nil {
		return nil, err
	}
	res := rec.Finish(end)
	local1 := localUsage()
	view1, remote1, err := tgt.sample(ctx)
	if err != nil {
		return nil, err
	}
	attacks, err := sch.attacks.stopAll()
	if err != nil {
		return nil, err
	}
	if err := wl.stop(); err != nil {
		return nil, err
	}
	used := local1.minus(local0).plus(remote1.minus(remote0))

	rep = &Report{
		Throughput: res.Throughput, LatencyMS: res.Latency, Ops: res.Ops, Errors: res.Errors,
		ViewChanges: view1 - min(view0, view1), Config: cfg, Series: res.Series, Events: sch.events,
		CPUSeconds: used.cpuSeconds, Crypto: cost.PerOp(uint64(used.signs), uint64(used.verifies), res.Ops),
		Machine: CurrentMachine(), Unreplicated: cfg.Unreplicated, DurationS: res.Duration.Seconds(),
		WarmupOps: res.WarmupOps, Attacks: attacks,
	}
	if cfg.Reads > 0 {
		rep.Reads, rep.Writes = &res.Reads, &res.Writes
	}
	if res.Ops > 0 {
		rep.AllocBytesPerOp = used.allocBytes / float64(res.Ops)
	}
	if kill != nil {
		r := rec.Recovery(kill.at, kill.view)
		rep.Recovery = &r
	}
	if slices.ContainsFunc(cfg.Faults, func(f Fault) bool { return f.Kind == SlowPrimary }) {
		rep.PrimaryReplacedAtS = -1
		if t, ok := rec.FirstCommitAfter(start, 1); ok {
			rep.PrimaryReplacedAtS = t.Sub(start).Seconds()
		}
	}
	return rep, nil
}

// comparedToFaultFree: faults whose cost the report gives as a fraction of
// the same run without them. A slow primary is one: it is meant to be
// replaced, and what it costs until then is the figure.
func comparedToFaultFree(f Fault) bool { return f.IsClientAttack() || f.Kind == SlowPrimary }

// dataDir is where the replicas keep their keys and data: --data, or a
// temporary directory removed afterwards.
func dataDir(cfg Config) (string, func() error, error) {
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return "", nil, fmt.Errorf("--data: %w", err)
		}
		return cfg.DataDir, func() error { return nil }, nil
	}
	dir, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return dir, func() error { return os.RemoveAll(dir) }, nil
}

func startTarget(ctx context.Context, cfg Config, dir string, part *partition, logger *slog.Logger) (target, error) {
	switch {
	case cfg.Unreplicated:
		return startUnreplicatedTarget(ctx, cfg, dir, logger)
	case cfg.Procs:
		return startProcesses(ctx, cfg, dir)
	default:
		return startInProcess(ctx, cfg, dir, part, logger)
	}
}

// waitUntil sleeps until t, printing a progress line every second.
func waitUntil(ctx context.Context, t time.Time, rec *Recorder, progress io.Writer) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case now := <-tick.C:
			fmt.Fprintln(progress, rec.Progress(now))
		}
	}
}
