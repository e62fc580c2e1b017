package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// demoOptions shape the demo run.
type demoOptions struct {
	// Before and After are how long the workload runs before the primary
	// crashes and after operations complete again in a new view.
	Before, After time.Duration
	// Clients and Sessions: Clients client processes (keys), each with
	// Sessions concurrent operations.
	Clients, Sessions int
	// RecoverTimeout bounds the wait for the cluster to recover.
	RecoverTimeout time.Duration
	Logger         *slog.Logger
}

var defaultDemo = demoOptions{
	Before: 3 * time.Second, After: 3 * time.Second, Clients: 4, Sessions: 8,
	RecoverTimeout: 30 * time.Second,
}

func newDemoCmd() *cobra.Command {
	o := defaultDemo
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local 4-replica cluster, a workload and a primary crash, and tell what happened",
		Long: "demo starts four replicas on 127.0.0.1 in this process (keys and data in a temporary\n" +
			"directory, removed afterwards), runs a key-value workload from several clients, crashes\n" +
			"the primary, keeps the workload going until operations complete in a new view, and\n" +
			"prints throughput and latency before and after, the view change, and the replicas'\n" +
			"state digests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			o.Logger = logger
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().DurationVar(&o.Before, "before", o.Before, "how long the workload runs before the crash")
	cmd.Flags().DurationVar(&o.After, "after", o.After, "how long the workload runs after recovery")
	cmd.Flags().IntVar(&o.Clients, "clients", o.Clients, "number of clients")
	cmd.Flags().IntVar(&o.Sessions, "sessions", o.Sessions, "concurrent operations per client")
	cmd.Flags().StringVar(&logLevel, "log-level", "error", "log level: debug, info, warn or error")
	return cmd
}

// demoProtocol suspects a primary after one second without progress.
var demoProtocol = bulwark.Protocol{
	CheckpointInterval: 64, Window: 128, MaxBatch: 128, ViewChangeTicks: 100, TickMS: 10,
}

// runDemo runs the demo and writes its account to w.
func runDemo(ctx context.Context, w io.Writer, o demoOptions) (err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if o.Clients < 1 || o.Sessions < 1 {
		return errors.New("demo: --clients and --sessions must be positive")
	}
	dir, err := os.MkdirTemp("", "bulwark-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	ports, err := testnet.FreePorts(4)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	path, err := writeTestnet(dir, "127.0.0.1", ports, demoProtocol)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	nodes := make([]*bulwark.Replica, c.N())
	defer func() {
		for _, n := range nodes {
			if n != nil {
				err = errors.Join(err, n.Stop())
			}
		}
	}()
	for i := range nodes {
		id := uint32(i)
		key, err := crypto.LoadPrivateKey(filepath.Join(testnet.ReplicaDir(dir, id), "key"))
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if nodes[i], err = bulwark.StartReplica(ctx, bulwark.ReplicaOptions{
			Cluster: c, ID: id, Key: key, DataDir: filepath.Join(testnet.ReplicaDir(dir, id), "data"), Service: kv.New(), Logger: o.Logger,
		}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	fmt.Fprintf(w, "Started 4 replicas (f = 1) on 127.0.0.1, TCP and QUIC ports %v; replica 0 is the primary of view 0.\n", ports)
	fmt.Fprintf(w, "Running a put workload: %d clients x %d concurrent operations.\n", o.Clients, o.Sessions)

	wl, err := startWorkload(ctx, c, o)
	if err != nil {
		return err
	}
	defer wl.stop()
	start := time.Now()
	if err := sleep(ctx, o.Before); err != nil {
		return err
	}
	crashAt := time.Now()
	n0 := nodes[0]
	nodes[0] = nil
	if err := n0.Stop(); err != nil {
		return fmt.Errorf("demo: crash replica 0: %w", err)
	}
	fmt.Fprintf(w, "Crashed replica 0 (the primary) after %.1fs.\n", crashAt.Sub(start).Seconds())
	recovered, view, err := wl.waitNewView(ctx, crashAt, o.RecoverTimeout)
	if err != nil {
		return err
	}
	if err := sleep(ctx, o.After); err != nil {
		return err
	}
	end := time.Now()
	if err := wl.stop(); err != nil {
		return err
	}
	sts, err := converge(ctx, nodes[1:], 10*time.Second)
	if err != nil {
		return err
	}
	before := summarize(wl.ops, func(op opRecord) bool { return op.end.Before(crashAt) }, crashAt.Sub(start))
	after := summarize(wl.ops, func(op opRecord) bool { return !op.start.Before(recovered) }, end.Sub(recovered))
	fmt.Fprintf(w, "\nBefore the crash: %s.\n", before)
	fmt.Fprintf(w, "View change: operations stalled for %.2fs, then completed again in new view %d (primary: replica %d).\n",
		recovered.Sub(crashAt).Seconds(), view, sts[0].Primary)
	fmt.Fprintf(w, "After recovery:   %s.\n", after)
	fmt.Fprintf(w, "Replicas 1, 2 and 3 all executed up to sequence %d in view %d and hold the same state digest %s.\n",
		sts[0].LastExecuted, sts[0].View, sts[0].StateDigest[:16])
	need := "2f+1 = 3" // every write, so that reads may skip ordering (docs/design.md, section 6)
	if c.File.Protocol.OrderedReads {
		need = "f+1 = 2"
	}
	fmt.Fprintf(w, "%d operations in all, every one answered by %s matching replies.\n", len(wl.ops), need)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// converge waits until the given replicas executed the same sequence number
// and hold the same state, and returns their status.
func converge(ctx context.Context, nodes []*bulwark.Replica, timeout time.Duration) ([]bulwark.ReplicaStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		sts := make([]bulwark.ReplicaStatus, len(nodes))
		same := true
		for i, n := range nodes {
			st, err := n.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("demo: replica %d status: %w", n.ID, err)
			}
			sts[i] = st
			same = same && st.LastExecuted == sts[0].LastExecuted && st.StateDigest == sts[0].StateDigest
		}
		if same {
			return sts, nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("demo: replicas did not converge: %v", describe(sts))
		}
	}
}

func describe(sts []bulwark.ReplicaStatus) string {
	s := ""
	for _, st := range sts {
		s += fmt.Sprintf("[replica %d: view %d executed %d digest %s] ", st.ID, st.View, st.LastExecuted, st.StateDigest[:8])
	}
	return s
}
