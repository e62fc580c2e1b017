package bulwark

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

// FuzzParseCluster feeds arbitrary bytes to the cluster file parser. It never
// panics; every error is one line naming the file; and a file it accepts is
// sound: written back out it parses to the same cluster, its window really
// is a multiple of at least twice the checkpoint interval, its limits are
// within their ceilings, no two replicas listen on one socket, its clients
// are distinct and no replica's, and every replica it lists can start with
// the configuration it gives.
func FuzzParseCluster(f *testing.F) {
	good := fuzzClusterFile(f, 4, DefaultProtocol)
	seven := fuzzClusterFile(f, 7, Protocol{CheckpointInterval: 1, Window: 2, MaxBatch: 1, ViewChangeTicks: 1, TickMS: maxTickMS})
	seeds := []any{good, seven}
	// At the byte limits' floors and ceilings.
	tight := fuzzClusterFile(f, 4, Protocol{CheckpointInterval: 1, Window: 2, MaxBatch: maxBatch, MaxBatchBytes: largestRequest,
		MaxMessageSize: 2 << 20, ViewChangeTicks: 360_000, TickMS: 10})
	// A small window: with a large one, every mutation the fuzzer tries
	// makes the core walk millions of messages to size the NEW-VIEW.
	wide := fuzzClusterFile(f, 4, Protocol{CheckpointInterval: 64, Window: 192, MaxBatch: 1, MaxBatchBytes: 48 << 20,
		MaxMessageSize: 64 << 20, ViewChangeTicks: 1, TickMS: 1})
	seeds = append(seeds, tight, wide)
	closed := fuzzClusterFile(f, 4, DefaultProtocol)
	for i := range 3 {
		k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{byte(200 + i)}, 32))
		if err != nil {
			f.Fatal(err)
		}
		closed.Clients = append(closed.Clients, k.PublicKey().Hex())
	}
	seeds = append(seeds, closed)
	for i, s := range []File{good, seven, tight, wide, closed} {
		if _, err := Validate(s); err != nil {
			f.Fatalf("seed %d, meant to be accepted: %v", i, err)
		}
	}
	shared := fuzzClusterFile(f, 4, DefaultProtocol)
	shared.Replicas[2].Addrs[1] = "/dns4/r1.example/udp/4001/quic"
	seeds = append(seeds, shared)
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
		`{"protocol":{"max_batch_bytes":0,"max_message_size":0}}`, `{"clients":[]}`, `{"clients":null}`,
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
		if p.Window > maxWindow || p.MaxBatch > maxBatch || p.TickMS > maxTickMS || p.MaxMessageSize > maxMessageSize ||
			p.MaxBatchBytes < largestRequest || p.MaxBatchBytes > p.MaxMessageSize || c.N() > maxReplicas {
			t.Fatalf("accepted limits beyond their ceilings: %d replicas, %+v", c.N(), p)
		}
		sockets := make(map[string]int)
		for i, peer := range c.Peers {
			for _, a := range peer.Addrs {
				if j, dup := sockets[socketOf(a)]; dup && j != i {
					t.Fatalf("replicas %d and %d both listen on %s", j, i, socketOf(a))
				}
				sockets[socketOf(a)] = i
			}
		}
		keys := make(map[string]bool)
		for _, k := range append(append([]crypto.PublicKey{}, c.Pubs...), c.Clients...) {
			if keys[string(k)] {
				t.Fatalf("key %s listed twice among replicas and clients", k.Hex())
			}
			keys[string(k)] = true
		}
		if c.AdmitsEveryClient() != (c.File.Clients == nil) || len(c.Clients) != len(c.File.Clients) {
			t.Fatalf("%d client entries, %d keys", len(c.File.Clients), len(c.Clients))
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
		if len(c2.Clients) != len(c.Clients) || c2.AdmitsEveryClient() != c.AdmitsEveryClient() {
			t.Fatal("the clients differ once written back")
		}
		for i := range c.Clients {
			if !bytes.Equal(c.Clients[i], c2.Clients[i]) {
				t.Fatalf("client %d differs once written back", i)
			}
		}
		for i := range c.Pubs {
			cfg := c.ReplicaConfig(uint32(i))
			cfg.Signer, cfg.Service = publicOnly(c.Pubs[i]), kv.New()
			if _, err := pbft.New(cfg); err != nil {
				t.Fatalf("replica %d of an accepted cluster file cannot start: %v", i, err)
			}
		}
	})
}
