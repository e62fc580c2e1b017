package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/internal/replicahooks"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

// target is what the clients run against: a cluster of replicas, in this
// process or as processes, or the unreplicated server.
type target interface {
	// cluster is what clients dial.
	cluster() *bulwark.Cluster
	// kill crashes replica id at once.
	kill(id uint32) error
	// sample returns the view of the cluster (see clusterView) and the
	// usage of replica processes other than this one.
	sample(ctx context.Context) (view uint64, remote usage, err error)
	stop() error
}

func newService(name string) statemachine.Service {
	if name == "kv" {
		return kv.New()
	}
	return null.New()
}

// replicaFaults maps replica ids to the --fault modes the run gives them.
func replicaFaults(cfg Config) map[uint32]byzantine.Kind {
	out := map[uint32]byzantine.Kind{}
	for _, f := range cfg.Faults {
		if id, mode, ok := f.ReplicaMode(cfg.Replicas); ok {
			out[uint32(id)] = byzantine.Kind(mode)
		}
	}
	return out
}

// inProcess is a cluster of replicas in this process, over libp2p on
// loopback like any other.
type inProcess struct {
	c        *bulwark.Cluster
	replicas []*bulwark.Replica
}

func startInProcess(ctx context.Context, cfg Config, dir string, part *partition, logger *slog.Logger) (*inProcess, error) {
	c, _, err := loopbackTestnet(dir, cfg)
	if err != nil {
		return nil, err
	}
	t := &inProcess{c: c, replicas: make([]*bulwark.Replica, c.N())}
	faults := replicaFaults(cfg)
	for i := range t.replicas {
		id := uint32(i)
		key, err := crypto.LoadPrivateKey(filepath.Join(testnet.ReplicaDir(dir, id), "key"))
		if err != nil {
			return nil, errors.Join(err, t.stop())
		}
		opts := bulwark.ReplicaOptions{
			Cluster: c, ID: id, Key: key, DataDir: filepath.Join(testnet.ReplicaDir(dir, id), "data"),
			Service: newService(cfg.Service), Logger: logger,
		}
		replicahooks.WithFault(&opts, faults[id])
		replicahooks.WithTransportWrapper(&opts, part.wrap(id))
		t.replicas[i], err = bulwark.StartReplica(ctx, opts)
		if err != nil {
			return nil, errors.Join(err, t.stop())
		}
	}
	return t, nil
}

// loopbackTestnet writes a testnet of cfg.Replicas on 127.0.0.1 under dir
// and loads it back; it returns the cluster and its file's path.
func loopbackTestnet(dir string, cfg Config) (*bulwark.Cluster, string, error) {
	path, err := writeLoopbackTestnet(dir, cfg)
	if err != nil {
		return nil, "", err
	}
	c, err := bulwark.Load(path)
	return c, path, err
}

func writeLoopbackTestnet(dir string, cfg Config) (string, error) {
	ports, err := testnet.FreePorts(cfg.Replicas)
	if err != nil {
		return "", err
	}
	path, err := testnet.WriteTestnet(dir, testnet.Loopback(cfg.Replicas), ports, cfg.Protocol)
	if err != nil || cfg.Transport == "" || cfg.Transport == "both" {
		return path, err
	}
	return path, keepTransport(path, cfg.Transport)
}

// keepTransport rewrites the cluster file so replicas listen and are
// dialled on one transport only (when both are listed, TCP is dialled).
func keepTransport(path, transport string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	var f bulwark.File
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	marker := "/tcp/"
	if transport == "quic" {
		marker = "/quic-v1"
	}
	for i := range f.Replicas {
		f.Replicas[i].Addrs = slices.DeleteFunc(f.Replicas[i].Addrs, func(a string) bool { return !strings.Contains(a, marker) })
	}
	data, err = json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (t *inProcess) cluster() *bulwark.Cluster { return t.c }

func (t *inProcess) kill(id uint32) error {
	r := t.replicas[id]
	if r == nil {
		return fmt.Errorf("replica %d is already down", id)
	}
	t.replicas[id] = nil
	return r.Stop()
}

func (t *inProcess) sample(ctx context.Context) (uint64, usage, error) {
	var views []uint64
	for _, r := range t.replicas {
		if r == nil {
			continue
		}
		st, err := r.Status(ctx)
		if err != nil {
			return 0, usage{}, fmt.Errorf("replica %d: %w", r.ID, err)
		}
		views = append(views, st.View)
	}
	return clusterView(views, t.c.N()), usage{}, nil
}

func (t *inProcess) stop() error {
	var errs []error
	for i, r := range t.replicas {
		if r != nil {
			errs = append(errs, r.Stop())
			t.replicas[i] = nil
		}
	}
	return errors.Join(errs...)
}

// unreplicatedTarget is the single server, in this process.
type unreplicatedTarget struct {
	c   *bulwark.Cluster
	srv *unreplicated
}

func startUnreplicatedTarget(ctx context.Context, cfg Config, dir string, logger *slog.Logger) (*unreplicatedTarget, error) {
	ports, err := testnet.FreePorts(1)
	if err != nil {
		return nil, err
	}
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	pid, err := network.PeerIDOf(key.PublicKey())
	if err != nil {
		return nil, err
	}
	var addrs []string
	if cfg.Transport != "quic" {
		addrs = append(addrs, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ports[0]))
	}
	if cfg.Transport != "tcp" {
		addrs = append(addrs, fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", ports[0]))
	}
	c, err := bulwark.SingleServer("unreplicated", bulwark.ReplicaEntry{
		PublicKey: key.PublicKey().Hex(), PeerID: pid.String(), Addrs: addrs}, cfg.Protocol)
	if err != nil {
		return nil, err
	}
	srv, err := startUnreplicated(ctx, key, c.Peers[0], addrs, filepath.Join(dir, "server"), newService(cfg.Service), cfg.Protocol.MaxBatch, logger)
	if err != nil {
		return nil, err
	}
	return &unreplicatedTarget{c: c, srv: srv}, nil
}

func (t *unreplicatedTarget) cluster() *bulwark.Cluster { return t.c }

func (t *unreplicatedTarget) kill(uint32) error {
	return errors.New("the unreplicated server has no replicas to kill")
}

func (t *unreplicatedTarget) sample(context.Context) (uint64, usage, error) { return 0, usage{}, nil }

func (t *unreplicatedTarget) stop() error { return t.srv.stop() }

// clusterView is the view at least f+1 of the live replicas have reached,
// so at least one correct replica: one replica alone in a view change (cut
// off, say) has not moved the cluster.
func clusterView(views []uint64, n int) uint64 {
	f := (n - 1) / 3
	if len(views) <= f {
		return 0
	}
	slices.Sort(views)
	return views[len(views)-1-f]
}
