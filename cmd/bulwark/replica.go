package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/internal/replicahooks"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

func newReplicaCmd() *cobra.Command {
	var (
		clusterPath, keyPath, dataDir, service, logLevel, faultName, metricsAddr, recordSent string
		id                                                                                   uint32
	)
	cmd := &cobra.Command{
		Use:   "replica --cluster FILE --id I [--key FILE] [--data DIR] [--service kv] [--metrics HOST:PORT] [--fault NAME]",
		Short: "Run one replica of a cluster until SIGINT or SIGTERM",
		Long: "replica runs replica I of the cluster FILE describes, listening on its addresses.\n" +
			"The key defaults to DIR/replica-I/key and the data directory to DIR/replica-I/data,\n" +
			"where DIR holds the cluster file. On SIGINT or SIGTERM it stops cleanly.\n" +
			"--metrics serves Prometheus metrics on http://HOST:PORT/metrics.\n" +
			"--fault makes it misbehave on purpose (tests, demos, benchmarks), as one of\n" +
			"  " + byzantine.ReplicaNames() + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, logger, err := openCluster(clusterPath, logLevel)
			if err != nil {
				return err
			}
			if int(id) >= c.N() {
				return fmt.Errorf("--id: %d is not below the %d replicas", id, c.N())
			}
			base := testnet.ReplicaDir(filepath.Dir(clusterPath), id)
			if keyPath == "" {
				keyPath = filepath.Join(base, "key")
			}
			if dataDir == "" {
				dataDir = filepath.Join(base, "data")
			}
			svc, err := newService(service)
			if err != nil {
				return err
			}
			fault, err := byzantine.Parse(faultName)
			if err != nil {
				return fmt.Errorf("--fault: %w", err)
			}
			key, err := crypto.LoadPrivateKey(keyPath)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if !bytes.Equal(key.PublicKey(), c.Pubs[id]) {
				return fmt.Errorf("--key: its public key is not replicas[%d].public_key of the cluster file", id)
			}
			logClientAccess(logger, c, id)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var reg *prometheus.Registry
			var metrics *metricsServer
			if metricsAddr != "" {
				reg = prometheus.NewRegistry()
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				if metrics, err = serveMetrics(metricsAddr, reg, logger); err != nil {
					return err
				}
			}
			stopMetrics := func() error {
				if metrics == nil {
					return nil
				}
				return metrics.stop()
			}
			opts := bulwark.ReplicaOptions{
				Cluster: c, ID: id, Key: key, DataDir: dataDir, Service: svc, Registry: reg, Logger: logger,
			}
			replicahooks.WithFault(&opts, fault)
			if recordSent != "" { // test tooling: every signed message sent, across crashes
				sent, err := driver.OpenSentLog(recordSent, logger)
				if err != nil {
					return errors.Join(fmt.Errorf("--record-sent: %w", err), stopMetrics())
				}
				defer sent.Close()
				replicahooks.WithTransportWrapper(&opts, sent.Wrap)
			}
			r, err := bulwark.StartReplica(ctx, opts)
			if err != nil {
				return errors.Join(err, stopMetrics())
			}
			select {
			case <-ctx.Done():
				logger.Info("stopping", "replica", id)
			case <-r.Done():
			}
			if err := errors.Join(stopMetrics(), r.Stop()); err != nil {
				return err
			}
			logger.Info("replica stopped", "replica", id)
			return nil
		},
	}
	cmd.Flags().StringVar(&clusterPath, "cluster", "", "cluster file (cluster.json)")
	cmd.Flags().Uint32Var(&id, "id", 0, "this replica's id")
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file (default DIR/replica-I/key)")
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default DIR/replica-I/data)")
	cmd.Flags().StringVar(&service, "service", "kv", "replicated service: kv or null")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics on http://HOST:PORT/metrics")
	cmd.Flags().StringVar(&faultName, "fault", "", "misbehave on purpose: "+byzantine.ReplicaNames())
	// Test tooling, not part of the command-line contract: the power-cut test
	// audits what each replica signed across SIGKILLs (driver.SentLog).
	cmd.Flags().StringVar(&recordSent, "record-sent", "", "append every signed protocol message sent to FILE (tests)")
	_ = cmd.Flags().MarkHidden("record-sent")
	return cmd
}

// logClientAccess says, once at start, who may use the replica: an open
// cluster is a testnet's default and must not go unnoticed in production.
func logClientAccess(logger *slog.Logger, c *bulwark.Cluster, id uint32) {
	if c.AdmitsEveryClient() {
		logger.Warn("every client key is admitted: the cluster file lists no clients", "replica", id)
		return
	}
	logger.Info("only the cluster file's client keys are admitted", "replica", id, "client_keys", len(c.Clients))
}

func newService(name string) (statemachine.Service, error) {
	switch name {
	case "kv":
		return kv.New(), nil
	case "null":
		return null.New(), nil
	}
	return nil, fmt.Errorf("--service: %q is not kv or null", name)
}
