package bulwark

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/internal/replicahooks"
	"github.com/bulwark-bft/bulwark/pbft"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/statemachine"
)

// ReplicaOptions say which replica to run and how.
type ReplicaOptions struct {
	Cluster *Cluster
	ID      uint32
	Key     *crypto.PrivateKey
	DataDir string
	Service statemachine.Service
	// Registry, if set, gets the replica's and its host's metrics.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// MemoryLimit is what this replica adds to the process's soft Go memory
	// limit (runtime/debug.SetMemoryLimit) while it runs: 0 means
	// DefaultMemoryLimit, negative leaves the runtime alone (an embedder
	// that manages it itself). GOMEMLIMIT, when set, always wins. Memory
	// freed is also handed back to the operating system every few seconds.
	MemoryLimit int64

	// Set only through internal/replicahooks, by the command and the
	// benchmark harness: a replica that misbehaves on purpose, and a
	// wrapper around its transport.
	fault byzantine.Kind
	wrap  func(pbft.Transport) pbft.Transport
}

func init() {
	replicahooks.WithFault = func(opts any, f byzantine.Kind) {
		if o, ok := opts.(*ReplicaOptions); ok {
			o.fault = f
		}
	}
	replicahooks.WithTransportWrapper = func(opts any, wrap func(pbft.Transport) pbft.Transport) {
		if o, ok := opts.(*ReplicaOptions); ok {
			o.wrap = wrap
		}
	}
}

// Replica is a running replica: its store, host and driver.
type Replica struct {
	ID     uint32
	drv    *driver.Driver
	host   *network.ReplicaHost
	store  *storage.DB
	cancel context.CancelFunc
	// releaseMemory takes this replica's share of the memory limit back.
	releaseMemory func()
}

// StartReplica opens the store, starts the network host on the replica's
// addresses and runs the driver until ctx ends or Stop is called.
func StartReplica(ctx context.Context, o ReplicaOptions) (*Replica, error) {
	c, id := o.Cluster, o.ID
	if int(id) >= c.N() {
		return nil, fmt.Errorf("replica %d: the id is not below the %d replicas", id, c.N())
	}
	if err := c.CheckService(o.Service); err != nil {
		return nil, fmt.Errorf("replica %d: %w", id, err)
	}
	if !bytes.Equal(o.Key.PublicKey(), c.Pubs[id]) {
		return nil, fmt.Errorf("replica %d: the key's public key is not replicas[%d].public_key of the cluster file", id, id)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store, err := storage.Open(storage.Options{Dir: o.DataDir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("replica %d: open store: %w", id, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	host, err := network.NewReplicaHost(ctx, c.hostConfig(id, o.Key, logger))
	if err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("replica %d: %w", id, err), store.Close())
	}
	var metrics *driver.Metrics
	if o.Registry != nil {
		if metrics, err = driver.NewMetrics(o.Registry, id); err == nil {
			err = o.Registry.Register(newNetworkCollector(host, id))
		}
		if err == nil {
			err = o.Registry.Register(newCryptoCollector())
		}
		if err != nil {
			cancel()
			return nil, errors.Join(fmt.Errorf("replica %d: %w", id, err), host.Close(), store.Close())
		}
	}
	cfg := c.ReplicaConfig(id)
	cfg.Signer, cfg.Service = o.Key, o.Service
	var transport pbft.Transport = host
	if o.wrap != nil {
		transport = o.wrap(transport)
	}
	// A slow primary holds each pre-prepare for 80% of the view-change timeout.
	slow := c.ViewChangeTimeout() * 8 / 10
	d, err := driver.Start(ctx, driver.Config{
		Replica: cfg, Store: store, TickInterval: c.Tick(), Logger: logger, Metrics: metrics,
		Transport: driver.WithFault(transport, byzantine.Config{Kind: o.fault, Self: int(id), Replicas: c.N(),
			Signer: o.Key, Cluster: c.File.signingDomain()}, slow),
	})
	if err != nil {
		cancel()
		return nil, errors.Join(err, host.Close(), store.Close())
	}
	return &Replica{ID: id, drv: d, host: host, store: store, cancel: cancel, releaseMemory: holdMemoryPolicy(o.MemoryLimit)}, nil
}

// hostConfig is the network configuration of replica id. Its frame limit is
// the core's MaxMessageSize (see ReplicaConfig), which the core checked its
// largest messages against; nil Clients admits every client.
func (c *Cluster) hostConfig(id uint32, key *crypto.PrivateKey, logger *slog.Logger) network.Config {
	return network.Config{
		Key: key, ListenAddrs: c.File.Replicas[id].Addrs, Self: id, Replicas: c.Peers,
		MaxFrameSize: c.MaxMessageSize(), Clients: c.Clients, Logger: logger,
	}
}

// Stop halts the driver, then closes the host and the store; it returns
// what stopped the driver, if anything but Stop itself.
func (n *Replica) Stop() error {
	n.cancel()
	<-n.drv.Done()
	var errs []error
	if err := n.drv.Err(); err != nil {
		errs = append(errs, fmt.Errorf("replica %d: %w", n.ID, err))
	}
	if err := n.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("replica %d: close host: %w", n.ID, err))
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("replica %d: close store: %w", n.ID, err))
	}
	n.releaseMemory()
	return errors.Join(errs...)
}

// Done is closed once the replica stopped: after Stop, when the context
// given to StartReplica ended, or when its store failed (see Err).
func (n *Replica) Done() <-chan struct{} { return n.drv.Done() }

// Err is what stopped the replica on its own (a store failure), or nil.
func (n *Replica) Err() error { return n.drv.Err() }

// Status is the replica's own status, read from its protocol loop (the
// same figures a status query over the network returns).
func (n *Replica) Status(ctx context.Context) (ReplicaStatus, error) {
	st, err := n.drv.Status(ctx)
	if err != nil {
		return ReplicaStatus{}, fmt.Errorf("replica %d: status: %w", n.ID, err)
	}
	return ReplicaStatus{
		ID: n.ID, Reachable: true, View: st.View, Primary: st.Primary,
		LastExecuted: st.LastExecuted, StableCheckpoint: st.StableCheckpoint,
		StateDigest: st.StateDigest.Hex(), ViewChanging: st.ViewChanging,
	}, nil
}
