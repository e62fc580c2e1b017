package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

func newClientCmd() *cobra.Command {
	var (
		clusterPath, keyPath, logLevel string
		timeout                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "client --cluster FILE [--key FILE] [--timeout 10s] put K V | get K | del K | cas K OLD NEW",
		Short: "Run one key-value operation against a cluster",
		Long: "client sends one operation to every replica and exits 0 once enough replicas agree\n" +
			"on the result (f+1; 2f+1 on a cluster with fast reads, the default, whose gets are\n" +
			"answered without ordering yet linearizable): put and del print \"ok\"; get prints the\n" +
			"value (an empty line for a missing key); cas prints \"swapped\" when the value was OLD\n" +
			"and is now NEW, else \"unchanged\". Without --key a fresh key is used. Exits non-zero\n" +
			"when no quorum of matching replies comes within --timeout.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, readOnly, err := parseKVOp(args)
			if err != nil {
				return err
			}
			c, logger, err := openCluster(clusterPath, logLevel)
			if err != nil {
				return err
			}
			var key *crypto.PrivateKey
			if keyPath != "" {
				key, err = crypto.LoadPrivateKey(keyPath)
			} else {
				key, err = crypto.GenerateKey(nil)
			}
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			cl, err := bulwark.Dial(ctx, c, key, 1, logger)
			if err != nil {
				return err
			}
			defer cl.Close()
			do := cl.Do
			if readOnly {
				do = cl.Read // linearizable, unordered when the cluster allows
			}
			res, err := do(ctx, op)
			if nq, ok := errors.AsType[*bulwark.NoQuorumError](err); ok {
				return fmt.Errorf("no %s matching replies within %v", quorumName(nq.Need, nq.Replicas), timeout)
			}
			if err != nil {
				return fmt.Errorf("client: %w", err)
			}
			out, err := formatKVResult(args[0], res.Result)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&clusterPath, "cluster", "", "cluster file (cluster.json)")
	cmd.Flags().StringVar(&keyPath, "key", "", "client private key file (default: a fresh key)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for matching replies")
	cmd.Flags().StringVar(&logLevel, "log-level", "error", "log level: debug, info, warn or error")
	return cmd
}

// parseKVOp encodes the operation named on the command line.
func parseKVOp(args []string) (op []byte, readOnly bool, err error) {
	want := map[string]int{"put": 3, "get": 2, "del": 2, "cas": 4}
	n, ok := want[args[0]]
	if !ok {
		return nil, false, fmt.Errorf("operation %q: want put K V, get K, del K or cas K OLD NEW", args[0])
	}
	if len(args) != n {
		return nil, false, fmt.Errorf("%s: takes %d arguments, got %d", args[0], n-1, len(args)-1)
	}
	switch args[0] {
	case "put":
		return kv.EncodePut([]byte(args[1]), []byte(args[2])), false, nil
	case "get":
		return kv.EncodeGet([]byte(args[1])), true, nil
	case "del":
		return kv.EncodeDelete([]byte(args[1])), false, nil
	default:
		return kv.EncodeCAS([]byte(args[1]), []byte(args[2]), []byte(args[3])), false, nil
	}
}

// formatKVResult is what the client prints for the agreed result of verb.
func formatKVResult(verb string, raw []byte) (string, error) {
	r, err := kv.DecodeResult(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	switch r.Status {
	case kv.StatusError:
		return "", fmt.Errorf("%s: the service refused the operation: %s", verb, r.Err)
	case kv.StatusOK:
		if verb == "get" {
			return string(r.Value), nil
		}
		return "ok", nil
	case kv.StatusNotFound:
		return "", nil
	case kv.StatusSwapped, kv.StatusUnchanged:
		return r.Status.String(), nil
	}
	return "", fmt.Errorf("%s: unexpected result status %v", verb, r.Status)
}

// quorumName says need, a number of matching replies out of n replicas,
// the way the protocol speaks of it.
func quorumName(need, n int) string {
	switch f := (n - 1) / 3; need {
	case f + 1:
		return "f+1"
	case 2*f + 1:
		return "2f+1"
	}
	return fmt.Sprint(need)
}
