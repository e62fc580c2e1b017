// Command bulwark runs Bulwark replicas and clients: key generation, local
// test networks, a replica process, a key-value client and a self-contained
// demo of a primary crash. See "Running replicas" in README.md.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "bulwark: %v\n", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Bulwark: PBFT state machine replication",
		Long: "bulwark runs the replicas and clients of a Bulwark cluster: n = 3f+1 replicas order\n" +
			"client operations and apply them to a replicated key-value store.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKeygenCmd(), newTestnetCmd(), newReplicaCmd(), newClientCmd(), newStatusCmd(), newDemoCmd(), newBenchCmd())
	return root
}

// newLogger logs text to stderr at the named level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// openCluster is what every command that talks to a cluster does first: check
// --cluster was given, set up logging, load and validate the cluster file.
func openCluster(clusterPath, logLevel string) (*bulwark.Cluster, *slog.Logger, error) {
	if clusterPath == "" {
		return nil, nil, errors.New("--cluster: missing")
	}
	logger, err := newLogger(logLevel)
	if err != nil {
		return nil, nil, err
	}
	c, err := bulwark.Load(clusterPath)
	if err != nil {
		return nil, nil, err
	}
	return c, logger, nil
}
