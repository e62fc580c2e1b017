package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulwark-bft/bulwark/bench"
)

// benchFlags are the flags bench and bench sweep share.
type benchFlags struct {
	cfg        bench.Config
	faults     []string
	viewChange time.Duration
	jsonPath   string
	plotPath   string
	logLevel   string
	cpuProfile string
	memProfile string
}

func (f *benchFlags) register(fs *pflag.FlagSet) {
	f.cfg = bench.DefaultConfig()
	c := &f.cfg
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "number of replicas, 3f+1")
	fs.IntVar(&c.Clients, "clients", c.Clients, "closed-loop clients (operations outstanding at once)")
	fs.IntVar(&c.ClientHosts, "client-hosts", 0, "client keys (libp2p hosts) the clients share (default one per 64 clients)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the measured phase")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "warm-up before the measured phase")
	fs.IntVar(&c.Payload, "payload", c.Payload, "request size in bytes (the null service replies as many)")
	fs.StringVar(&c.Service, "service", c.Service, "replicated service: null or kv")
	fs.IntVar(&c.Protocol.MaxBatch, "batch", c.Protocol.MaxBatch, "maximum requests per batch")
	fs.BoolVar(&c.Procs, "procs", false, "run each replica as its own bulwark replica process")
	fs.StringArrayVar(&f.faults, "fault", nil, "fault to inject (repeatable): kill-primary@T, silent-primary, equivocate,\n"+
		"slow-primary, wrong-result, partition:R@T1[-T2]; client attacks flood-client, large-requests,\n"+
		"status-spam[@T1[-T2]] (after a fault-free run of the same configuration, printed side by side);\n"+
		"times count from the end of warm-up")
	fs.BoolVar(&c.Unreplicated, "unreplicated", false, "the same clients against one server on the same transport, no agreement")
	fs.StringVar(&f.jsonPath, "json", "", "write the full report as JSON to FILE")
	fs.StringVar(&f.plotPath, "plot", "", "plot throughput and p99 latency to FILE (.svg or .png)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the workload")
	fs.StringVar(&c.DataDir, "data", "", "keep the replicas' keys and data in DIR (default: a temporary directory, removed)")
	fs.IntVar(&c.Keys, "keys", c.Keys, "key space of the kv workload")
	fs.Float64Var(&c.Reads, "reads", c.Reads, "fraction of operations that are linearizable reads (kv get, null query), 0 to 1;\n"+
		"the report then shows reads and writes side by side")
	fs.StringVar(&c.Transport, "transport", c.Transport, "what replicas listen on: tcp, quic or both (then dialled over TCP)")
	fs.DurationVar(&c.Timeout, "op-timeout", c.Timeout, "an operation taking longer counts as an error")
	fs.DurationVar(&f.viewChange, "view-change-timeout", time.Duration(c.Protocol.ViewChangeTicks)*time.Duration(c.Protocol.TickMS)*time.Millisecond,
		"how long backups wait for progress before they suspect the primary")
	fs.StringVar(&f.logLevel, "log-level", "error", "log level of the replicas in this process: debug, info, warn or error")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (with in-process replicas: the whole cluster) to FILE")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile of this process to FILE at the end")
}

// profile starts the profiles asked for; the returned function ends them.
func (f *benchFlags) profile() (func() error, error) {
	stopCPU := func() {}
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			out.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stopCPU = func() { pprof.StopCPUProfile(); out.Close() }
	}
	return func() error {
		stopCPU()
		if f.memProfile == "" {
			return nil
		}
		out, err := os.Create(f.memProfile)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		defer out.Close()
		if err := pprof.Lookup("allocs").WriteTo(out, 0); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return nil
	}, nil
}

// config completes the run's configuration from the flags.
func (f *benchFlags) config() (bench.Config, error) {
	c := f.cfg
	faults, err := bench.ParseFaults(f.faults)
	if err != nil {
		return c, err
	}
	c.Faults = faults
	if f.plotPath != "" {
		if err := bench.CheckPlotPath(f.plotPath); err != nil {
			return c, err
		}
	}
	tick := time.Duration(c.Protocol.TickMS) * time.Millisecond
	if f.viewChange < tick {
		return c, fmt.Errorf("--view-change-timeout: %v is below one tick (%v)", f.viewChange, tick)
	}
	c.Protocol.ViewChangeTicks = uint64(f.viewChange / tick)
	return c, nil
}

// start is what bench and bench sweep do first: the configuration, the
// logger, and a context that SIGINT and SIGTERM end (stop releases it).
func (f *benchFlags) start(cmd *cobra.Command) (context.Context, context.CancelFunc, bench.Config, *slog.Logger, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	logger, err := newLogger(f.logLevel)
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	return ctx, stop, cfg, logger, nil
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure throughput, latency and recovery of a local cluster or an unreplicated server",
		Long: "bench starts a cluster on 127.0.0.1 (replicas in this process, or as processes with\n" +
			"--procs; real libp2p and Badger either way), runs closed-loop clients with signed\n" +
			"requests, prints a progress line every second and a final table: throughput, latency\n" +
			"percentiles, errors, view changes, CPU, allocation and signature cost per operation,\n" +
			"and with kill-primary the recovery time. --unreplicated measures the yardstick: the same\n" +
			"clients against one server on the same transport. See docs/performance.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop, cfg, logger, err := f.start(cmd)
			if err != nil {
				return err
			}
			defer stop()
			endProfile, err := f.profile()
			if err != nil {
				return err
			}
			rep, err := bench.Run(ctx, cfg, cmd.ErrOrStderr(), logger)
			if perr := endProfile(); err == nil {
				err = perr
			}
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			return f.write(cmd.OutOrStdout(), rep)
		},
	}
	f.register(cmd.Flags())
	cmd.AddCommand(newBenchSweepCmd())
	return cmd
}

// write prints the table and writes the JSON and plot files asked for.
func (f *benchFlags) write(w io.Writer, rep *bench.Report) error {
	if err := rep.WriteTable(w); err != nil {
		return err
	}
	if f.jsonPath != "" {
		if err := rep.WriteJSON(f.jsonPath); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if f.plotPath != "" {
		if err := bench.WritePlot(f.plotPath, rep); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
}

func newBenchSweepCmd() *cobra.Command {
	var (
		f      benchFlags
		over   string
		values []int
	)
	cmd := &cobra.Command{
		Use:   "sweep --over replicas|payload|clients [--values 4,7,10] [bench flags]",
		Short: "Run bench for each value of one variable; one JSON and one plot against it",
		Long: "sweep runs bench once per value of --over (defaults: replicas 4,7,10; payload\n" +
			"0,1024,4096; clients 1,16,64,256), printing each run's table, and writes all reports\n" +
			"to --json and throughput and latency against the variable to --plot.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop, cfg, logger, err := f.start(cmd)
			if err != nil {
				return err
			}
			defer stop()
			pts, err := bench.Sweep(ctx, cfg, over, values, cmd.ErrOrStderr(), logger)
			if err != nil {
				return fmt.Errorf("bench sweep: %w", err)
			}
			out := cmd.OutOrStdout()
			for _, p := range pts {
				fmt.Fprintf(out, "\n%s = %s\n", over, p.Label)
				if err := p.Report.WriteTable(out); err != nil {
					return err
				}
			}
			if f.jsonPath != "" {
				if err := bench.WriteSweepJSON(f.jsonPath, over, pts); err != nil {
					return err
				}
			}
			if f.plotPath != "" {
				if err := bench.WriteSweepPlot(f.plotPath, over, pts); err != nil {
					return fmt.Errorf("--plot: %w", err)
				}
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&over, "over", "replicas", "variable to sweep: replicas, payload or clients")
	cmd.Flags().IntSliceVar(&values, "values", nil, "values of the variable (default depends on --over)")
	return cmd
}
