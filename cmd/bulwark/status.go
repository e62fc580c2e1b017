package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

// replicaStatus is one line of `bulwark status`; the JSON field names are
// part of the command-line contract.
type replicaStatus = bulwark.ReplicaStatus

func newStatusCmd() *cobra.Command {
	var (
		clusterPath, keyPath, logLevel string
		asJSON                         bool
		timeout                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status --cluster FILE [--json] [--timeout 3s]",
		Short: "Ask every replica for its view, primary, progress and state digest",
		Long: "status asks every replica of the cluster for its view, the primary of that view, its\n" +
			"last executed sequence number, its stable checkpoint and its state digest, and prints\n" +
			"one line per replica (or, with --json, one array of objects with the fields id,\n" +
			"reachable, view, primary, last_executed, stable_checkpoint, state_digest). A replica\n" +
			"that does not answer within --timeout is reported unreachable.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, logger, err := openCluster(clusterPath, logLevel)
			if err != nil {
				return err
			}
			key, err := statusKey(keyPath)
			if err != nil {
				return err
			}
			sts, err := queryStatus(cmd.Context(), c, key, timeout, network.WithLogger(logger))
			if err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), sts, asJSON)
		},
	}
	cmd.Flags().StringVar(&clusterPath, "cluster", "", "cluster file (cluster.json)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON array")
	cmd.Flags().StringVar(&keyPath, "key", "", "client private key file, for a cluster that admits only listed client keys (default: a fresh key)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the replicas' answers")
	cmd.Flags().StringVar(&logLevel, "log-level", "error", "log level: debug, info, warn or error")
	return cmd
}

// statusKey is the key status queries are sent with: --key's, or a fresh one.
func statusKey(path string) (*crypto.PrivateKey, error) {
	if path == "" {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		return key, nil
	}
	key, err := crypto.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return key, nil
}

// queryStatus sends a Status query to every replica over the client protocol
// and collects the answers that arrive within timeout.
func queryStatus(ctx context.Context, c *bulwark.Cluster, key *crypto.PrivateKey, timeout time.Duration, opts ...network.ClientOption) ([]replicaStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return bulwark.QueryStatus(ctx, c, key, opts...)
}

func printStatus(w io.Writer, sts []replicaStatus, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(sts)
	}
	for _, s := range sts {
		if !s.Reachable {
			fmt.Fprintf(w, "replica %d: unreachable\n", s.ID)
			continue
		}
		changing := ""
		if s.ViewChanging {
			changing = " (changing views)"
		}
		fmt.Fprintf(w, "replica %d: view %d%s, primary %d, last executed %d, stable checkpoint %d, state digest %s\n",
			s.ID, s.View, changing, s.Primary, s.LastExecuted, s.StableCheckpoint, s.StateDigest)
	}
	return nil
}
