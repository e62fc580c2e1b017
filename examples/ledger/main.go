// Command ledger replicates a small bank ledger (package ledger) with
// Bulwark, using only the framework's public API: the example to copy when
// replicating a service of your own.
//
//	ledger testnet [-n 4] DIR           write DIR/cluster.json and replica keys
//	ledger replica -cluster F -id N     run one replica until SIGINT/SIGTERM
//	ledger client -cluster F            open accounts, transfer, check the books
//	ledger demo                         all of it in one process
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

const usage = `usage:
  ledger testnet [-n 4] DIR
  ledger replica -cluster FILE -id N [-key FILE] [-data DIR] [-log-level info]
  ledger client -cluster FILE [-accounts 8] [-transfers 200] [-workers 8] [-keys DIR]
  ledger demo [-accounts 8] [-transfers 200]`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ledger:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "testnet":
		return testnetCmd(args)
	case "replica":
		return replicaCmd(args)
	case "client":
		return clientCmd(args)
	case "demo":
		return demoCmd(args)
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// replicaCmd is `ledger replica`: one replica, in its own process, until
// SIGINT or SIGTERM. Key and data default to the testnet's layout.
func replicaCmd(args []string) error {
	flags := flag.NewFlagSet("replica", flag.ContinueOnError)
	clusterPath := flags.String("cluster", "", "cluster file")
	id := flags.Uint("id", 0, "this replica's id")
	keyPath := flags.String("key", "", "private key file (default DIR/replica-N/key, DIR holding the cluster file)")
	dataDir := flags.String("data", "", "data directory (default DIR/replica-N/data)")
	logLevel := flags.String("log-level", "info", "debug, info, warn or error")
	if err := flags.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c, err := loadCluster(*clusterPath)
	if err != nil {
		return err
	}
	if *id >= uint(c.N()) {
		return fmt.Errorf("-id: %d is not below the %d replicas", *id, c.N())
	}
	base := replicaDir(filepath.Dir(*clusterPath), int(*id))
	if *keyPath == "" {
		*keyPath = filepath.Join(base, "key")
	}
	if *dataDir == "" {
		*dataDir = filepath.Join(base, "data")
	}
	key, err := crypto.LoadPrivateKey(*keyPath)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := startReplica(ctx, c, uint32(*id), key, *dataDir, logger)
	if err != nil {
		return err
	}
	logger.Info("replica running", "id", *id, "service", ledger.Name)
	select {
	case <-ctx.Done(): // a signal: stop cleanly
	case <-r.Done(): // the replica stopped by itself: Stop says why
	}
	return r.Stop()
}

// startReplica is the whole of the integration: the cluster, this replica's
// id, key and data directory, and a fresh instance of the service. The
// replica restores the service's state from its data directory (its last
// stable checkpoint, then the batches logged after it) or from its peers.
func startReplica(ctx context.Context, c *bulwark.Cluster, id uint32, key *crypto.PrivateKey, dataDir string, logger *slog.Logger) (*bulwark.Replica, error) {
	r, err := bulwark.StartReplica(ctx, bulwark.ReplicaOptions{
		Cluster: c, ID: id, Key: key, DataDir: dataDir, Service: ledger.New(), Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start replica %d: %w", id, err)
	}
	return r, nil
}

// loadCluster reads and checks the cluster file every replica and client
// shares.
func loadCluster(path string) (*bulwark.Cluster, error) {
	if path == "" {
		return nil, errors.New("-cluster: the cluster file is required")
	}
	return bulwark.Load(path)
}
