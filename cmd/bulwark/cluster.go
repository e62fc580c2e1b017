package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft"
)

// clusterFile is the public cluster description every replica and client
// reads: no private key material, only what others may know.
type clusterFile struct {
	ClusterID string         `json:"cluster_id"`
	Replicas  []replicaEntry `json:"replicas"`
	Protocol  protocolParams `json:"protocol"`
}

// replicaEntry is one replica: its id (its index), ed25519 public key, the
// libp2p peer id derived from it, and the multiaddrs it listens on.
type replicaEntry struct {
	ID        uint32   `json:"id"`
	PublicKey string   `json:"public_key"`
	PeerID    string   `json:"peer_id"`
	Addrs     []string `json:"addrs"`
}

// protocolParams are the PBFT parameters all replicas must share.
type protocolParams struct {
	CheckpointInterval uint64 `json:"checkpoint_interval"`
	Window             uint64 `json:"window"`
	MaxBatch           int    `json:"max_batch"`
	ViewChangeTicks    uint64 `json:"view_change_ticks"`
	TickMS             int    `json:"tick_ms"`
}

// defaultProtocol is what testnet writes.
var defaultProtocol = protocolParams{
	CheckpointInterval: pbft.DefaultCheckpointInterval,
	Window:             2 * pbft.DefaultCheckpointInterval,
	MaxBatch:           pbft.DefaultMaxBatchSize,
	ViewChangeTicks:    pbft.DefaultViewChangeTicks,
	TickMS:             10,
}

// cluster is a validated cluster file with its fields parsed.
type cluster struct {
	file  clusterFile
	pubs  []crypto.PublicKey
	peers []network.Peer
}

func (c *cluster) n() int { return len(c.pubs) }

func (c *cluster) tick() time.Duration {
	return time.Duration(c.file.Protocol.TickMS) * time.Millisecond
}

// replicaConfig is the core configuration of replica id, less its signer
// and service.
func (c *cluster) replicaConfig(id uint32) pbft.Config {
	p := c.file.Protocol
	return pbft.Config{
		ClusterID: c.file.ClusterID, ID: id, Replicas: c.pubs,
		Verifier:           crypto.Ed25519Verifier{},
		CheckpointInterval: p.CheckpointInterval, WindowSize: p.Window,
		MaxBatchSize: p.MaxBatch, ViewChangeTicks: p.ViewChangeTicks,
	}
}

// loadCluster reads and validates a cluster file. Every mistake is one line
// naming the file and the field.
func loadCluster(path string) (*cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	return parseCluster(path, data)
}

func parseCluster(name string, data []byte) (*cluster, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f clusterFile
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("%s: %s: %w", name, te.Field, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	c, err := validateCluster(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func validateCluster(f clusterFile) (*cluster, error) {
	if f.ClusterID == "" {
		return nil, errors.New("cluster_id: missing")
	}
	n := len(f.Replicas)
	if n < 4 || (n-1)%3 != 0 {
		return nil, fmt.Errorf("replicas: %d replicas is not 3f+1 for some f >= 1 (4, 7, 10, ...)", n)
	}
	c := &cluster{file: f}
	seenKey := make(map[string]int, n)
	for i, r := range f.Replicas {
		field := fmt.Sprintf("replicas[%d]", i)
		if r.ID != uint32(i) {
			return nil, fmt.Errorf("%s.id: is %d, want %d (ids are the positions in the list)", field, r.ID, i)
		}
		pub, err := crypto.ParsePublicKeyHex(r.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key: %w", field, err)
		}
		if j, dup := seenKey[string(pub)]; dup {
			return nil, fmt.Errorf("%s.public_key: same as replicas[%d].public_key", field, j)
		}
		seenKey[string(pub)] = i
		pid, err := peer.Decode(r.PeerID)
		if err != nil {
			return nil, fmt.Errorf("%s.peer_id: %w", field, err)
		}
		want, err := network.PeerIDOf(pub)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key: %w", field, err)
		}
		if pid != want {
			return nil, fmt.Errorf("%s.peer_id: does not match public_key (want %s)", field, want)
		}
		if len(r.Addrs) == 0 {
			return nil, fmt.Errorf("%s.addrs: empty", field)
		}
		p := network.Peer{ID: r.ID, PeerID: pid}
		for j, a := range r.Addrs {
			ma, err := multiaddr.NewMultiaddr(a)
			if err != nil {
				return nil, fmt.Errorf("%s.addrs[%d]: %w", field, j, err)
			}
			p.Addrs = append(p.Addrs, ma)
		}
		c.pubs = append(c.pubs, pub)
		c.peers = append(c.peers, p)
	}
	if err := validateProtocol(f.Protocol); err != nil {
		return nil, err
	}
	return c, nil
}

func validateProtocol(p protocolParams) error {
	switch {
	case p.CheckpointInterval == 0:
		return errors.New("protocol.checkpoint_interval: must be positive")
	case p.Window/2 < p.CheckpointInterval || p.Window%p.CheckpointInterval != 0: // not 2*interval: it wraps
		return fmt.Errorf("protocol.window: %d is not a multiple of checkpoint_interval %d of at least twice it",
			p.Window, p.CheckpointInterval)
	case p.MaxBatch < 1:
		return fmt.Errorf("protocol.max_batch: %d is below 1", p.MaxBatch)
	case p.ViewChangeTicks == 0:
		return errors.New("protocol.view_change_ticks: must be positive")
	case p.TickMS < 1 || p.TickMS > 60_000:
		return fmt.Errorf("protocol.tick_ms: %d is outside [1, 60000]", p.TickMS)
	}
	return nil
}
