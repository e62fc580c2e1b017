package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// fuzzClusterFile is a valid cluster file of n replicas with fixed keys, so
// the seeds are the same on every run.
func fuzzClusterFile(tb testing.TB, n int, proto Protocol) File {
	tb.Helper()
	f := File{ClusterID: "fuzz", Protocol: proto}
	for i := range n {
		k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			tb.Fatal(err)
		}
		pid, err := network.PeerIDOf(k.PublicKey())
		if err != nil {
			tb.Fatal(err)
		}
		f.Replicas = append(f.Replicas, ReplicaEntry{
			ID: uint32(i), PublicKey: k.PublicKey().Hex(), PeerID: pid.String(),
			Addrs: []string{fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i+1), fmt.Sprintf("/dns4/r%d.example/udp/4001/quic-v1", i)},
		})
	}
	return f
}

// pubSigner is a Signer whose public key is a cluster file's: enough for
// pbft.New to check a configuration, which never signs.
type pubSigner crypto.PublicKey

func (p pubSigner) PublicKey() crypto.PublicKey { return crypto.PublicKey(p) }
func (pubSigner) Sign([]byte) []byte            { panic("the configuration check signed") }

// FuzzParseCluster feeds arbitrary bytes to the cluster file parser. It never
// panics; every error is one line naming the file; and a file it accepts is
// sound: written back out it parses to the same cluster, its window really
// is a multiple of at least twice the checkpoint interval, and every replica
// it lists can start with the configuration it gives.
func FuzzParseCluster(f *testing.F) {
	good := fuzzClusterFile(f, 4, DefaultProtocol)
	seven := fuzzClusterFile(f, 7, Protocol{CheckpointInterval: 1, Window: 2, MaxBatch: 1, ViewChangeTicks: 1, TickMS: 60000})
	seeds := []any{good, seven}
	dup := fuzzClusterFile(f, 4, DefaultProtocol)
	dup.Replicas[3].PublicKey = dup.Replicas[0].PublicKey
	seeds = append(seeds, dup)
	swapped := fuzzClusterFile(f, 4, DefaultProtocol)
	swapped.Replicas[1].PeerID, swapped.Replicas[2].PeerID = swapped.Replicas[2].PeerID, swapped.Replicas[1].PeerID
	seeds = append(seeds, swapped)
	// 2 * checkpoint_interval wraps around in uint64.
	seeds = append(seeds, fuzzClusterFile(f, 4, Protocol{CheckpointInterval: 1<<63 + 1, Window: 1<<63 + 1, MaxBatch: 1, ViewChangeTicks: 1, TickMS: 1}))
	for _, s := range seeds {
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "{}", "[]", "null", `{"cluster_id":"x"} {}`, `{"replicas":[{"id":"one"}]}`,
		`{"cluster_id":"x","replicas":[],"protocol":{},"private_key":"00"}`,
		`{"protocol":{"checkpoint_interval":-1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("cluster.json", data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "cluster.json: ") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error is not one line naming the file: %q", msg)
			}
			if c != nil {
				t.Fatal("an error and a cluster")
			}
			return
		}
		p := c.File.Protocol
		if p.Window/2 < p.CheckpointInterval || p.Window%p.CheckpointInterval != 0 {
			t.Fatalf("accepted window %d for checkpoint interval %d", p.Window, p.CheckpointInterval)
		}
		if c.N() != len(c.Peers) || c.N() != len(c.File.Replicas) {
			t.Fatalf("%d keys, %d peers, %d entries", c.N(), len(c.Peers), len(c.File.Replicas))
		}
		again, err := json.Marshal(c.File)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse("again.json", again)
		if err != nil {
			t.Fatalf("an accepted file, written back, is refused: %v", err)
		}
		for i := range c.Pubs {
			if !bytes.Equal(c.Pubs[i], c2.Pubs[i]) || c.Peers[i].PeerID != c2.Peers[i].PeerID || len(c.Peers[i].Addrs) != len(c2.Peers[i].Addrs) {
				t.Fatalf("replica %d differs once written back", i)
			}
			for j := range c.Peers[i].Addrs {
				if !c.Peers[i].Addrs[j].Equal(c2.Peers[i].Addrs[j]) {
					t.Fatalf("replica %d address %d differs once written back", i, j)
				}
			}
		}
		if c2.File.Protocol != p || c2.File.ClusterID != c.File.ClusterID {
			t.Fatal("the protocol or cluster id differs once written back")
		}
		for i := range c.Pubs {
			cfg := c.ReplicaConfig(uint32(i))
			cfg.Signer, cfg.Service = pubSigner(c.Pubs[i]), kv.New()
			if _, err := pbft.New(cfg); err != nil {
				t.Fatalf("replica %d of an accepted cluster file cannot start: %v", i, err)
			}
		}
	})
}
