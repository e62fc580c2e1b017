package bulwark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

// clusterJSON is a valid cluster file of n replicas (see fuzzClusterFile)
// as a generic map, so a case can break it in any way, fields left out or
// written as 0 included.
func clusterJSON(t *testing.T, n int) map[string]any {
	t.Helper()
	data, err := json.Marshal(fuzzClusterFile(t, n, DefaultProtocol))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func protocolOf(m map[string]any) map[string]any { return m["protocol"].(map[string]any) }
func entry(m map[string]any, i int) map[string]any {
	return m["replicas"].([]any)[i].(map[string]any)
}
func setAddrs(m map[string]any, i int, addrs ...string) {
	list := make([]any, len(addrs))
	for j, a := range addrs {
		list[j] = a
	}
	entry(m, i)["addrs"] = list
}
func setClients(m map[string]any, keys ...string) {
	list := make([]any, len(keys))
	for j, k := range keys {
		list[j] = k
	}
	m["clients"] = list
}

// clientKey is a fixed client key, unlike any of fuzzClusterFile's replicas.
func clientKey(t *testing.T, i int) crypto.PublicKey {
	t.Helper()
	k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{byte(200 + i)}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

type clusterCase struct {
	name   string
	mutate func(t *testing.T, m map[string]any)
	want   string // the error after "cluster.json: ", up to where it may go on; "" for accepted
}

// runClusterCases parses each case's file. An accepted one must be; a
// refused one must be refused in one line that starts with want, which
// names the field.
func runClusterCases(t *testing.T, cases []clusterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := clusterJSON(t, 4)
			tc.mutate(t, m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse("cluster.json", data)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c == nil || c.N() == 0 {
					t.Fatal("accepted, but no cluster")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error starting %q", tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "cluster.json: "+tc.want) || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q, want one line starting %q", msg, "cluster.json: "+tc.want)
			}
		})
	}
}

func TestClusterProtocolLimits(t *testing.T) {
	set := func(field string, v any) func(*testing.T, map[string]any) {
		return func(_ *testing.T, m map[string]any) { protocolOf(m)[field] = v }
	}
	runClusterCases(t, []clusterCase{
		{"defaults", func(*testing.T, map[string]any) {}, ""},
		{"max_batch at the ceiling", set("max_batch", 65536), ""},
		{"max_batch above the ceiling", set("max_batch", 65537), "protocol.max_batch: 65537 is above 65536"},
		{"max_batch absurd", set("max_batch", 100_000_000), "protocol.max_batch: 100000000 is above 65536"},
		{"max_batch zero", set("max_batch", 0), "protocol.max_batch: 0 is below 1"},
		{"max_batch negative", set("max_batch", -1), "protocol.max_batch: -1 is below 1"},
		{"window above 2^20", func(_ *testing.T, m map[string]any) {
			protocolOf(m)["checkpoint_interval"], protocolOf(m)["window"] = 1<<20, 1<<21
		}, "protocol.window: 2097152 is above 2^20"},
		{"window not a multiple", func(_ *testing.T, m map[string]any) {
			protocolOf(m)["checkpoint_interval"], protocolOf(m)["window"] = 128, 320
		}, "protocol.window: 320 is not a multiple of checkpoint_interval 128"},
		{"window below twice the interval", set("window", 64), "protocol.window: 64 is not a multiple"},
		// A lower bound refuses this one before the exact size is computed...
		{"window at 2^20 never fits a frame", func(_ *testing.T, m map[string]any) {
			protocolOf(m)["checkpoint_interval"], protocolOf(m)["window"] = 1<<19, 1<<20
		}, "protocol.window: the largest new view of 4 replicas and a window of 1048576 is over "},
		// ...and this one passes the bound but not the exact size.
		{"window whose new view exceeds the frame", func(_ *testing.T, m map[string]any) {
			protocolOf(m)["checkpoint_interval"], protocolOf(m)["window"] = 4096, 3*4096
		}, "protocol.window: the largest new view of 4 replicas and a window of 12288 is 2"},
		{"window fits a larger frame", func(_ *testing.T, m map[string]any) {
			protocolOf(m)["checkpoint_interval"], protocolOf(m)["window"] = 4096, 3*4096
			protocolOf(m)["max_message_size"] = 64 << 20
		}, ""},
		{"tick_ms zero", set("tick_ms", 0), "protocol.tick_ms: 0 is outside [1, 1000]"},
		{"tick_ms at the ceiling", set("tick_ms", 1000), ""},
		{"tick_ms above the ceiling", set("tick_ms", 1001), "protocol.tick_ms: 1001 is outside [1, 1000]"},
		{"view change timeout of an hour", set("view_change_ticks", 360_000), ""},
		{"view change timeout above an hour", set("view_change_ticks", 360_001),
			"protocol.view_change_ticks: 360001 ticks of 10 ms is over 1h0m0s"},
		{"view change ticks above 2^40", set("view_change_ticks", uint64(1)<<41), "protocol.view_change_ticks: 2199023255552 is above 2^40"},
		{"view change ticks zero", set("view_change_ticks", 0), "protocol.view_change_ticks: must be positive"},
		{"checkpoint interval zero", set("checkpoint_interval", 0), "protocol.checkpoint_interval: must be positive"},
	})
}

func TestClusterByteLimits(t *testing.T) {
	set := func(kv ...any) func(*testing.T, map[string]any) {
		return func(_ *testing.T, m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				protocolOf(m)[kv[i].(string)] = kv[i+1]
			}
		}
	}
	// The frame that holds everything but the largest state chunk: only
	// max_message_size can be at fault.
	cfg := pbft.Config{Replicas: make([]crypto.PublicKey, 4), MaxBatchBytes: largestRequest,
		CheckpointInterval: DefaultProtocol.CheckpointInterval, WindowSize: DefaultProtocol.Window}
	s := pbft.WorstCaseSizes(cfg)
	if s.PrePrepare >= s.StateChunk || s.Batch >= s.StateChunk || s.NewView >= s.StateChunk {
		t.Fatalf("%+v: a frame one byte below the state chunk would not hold the rest", s)
	}
	runClusterCases(t, []clusterCase{
		{"max_batch_bytes one largest request", set("max_batch_bytes", largestRequest), ""},
		{"max_batch_bytes below one request", set("max_batch_bytes", largestRequest-1),
			fmt.Sprintf("protocol.max_batch_bytes: %d is below %d, one request", largestRequest-1, largestRequest)},
		{"max_batch_bytes written as 0", set("max_batch_bytes", 0), "protocol.max_batch_bytes: 0 is below"},
		{"max_batch_bytes above the frame", set("max_batch_bytes", 17<<20),
			"protocol.max_batch_bytes: 17825792 is above max_message_size 16777216"},
		{"max_batch_bytes fills the frame", set("max_batch_bytes", 16<<20),
			"protocol.max_batch_bytes: the largest pre-prepare is "},
		{"max_batch_bytes of a larger frame", set("max_batch_bytes", 16<<20, "max_message_size", 17<<20), ""},
		{"max_message_size written as 0", set("max_message_size", 0), "protocol.max_message_size: 0 is outside"},
		{"max_message_size below one request", set("max_message_size", largestRequest-1, "max_batch_bytes", largestRequest),
			fmt.Sprintf("protocol.max_message_size: %d is outside [%d, 1073741824]", largestRequest-1, largestRequest)},
		{"max_message_size at 1 GiB", set("max_message_size", 1<<30), ""},
		{"max_message_size above 1 GiB", set("max_message_size", 1<<30+1), "protocol.max_message_size: 1073741825 is outside"},
		{"max_message_size below the state chunk", set("max_message_size", s.StateChunk-1, "max_batch_bytes", largestRequest),
			fmt.Sprintf("protocol.max_message_size: %d is below the largest state chunk, %d bytes", s.StateChunk-1, s.StateChunk)},
		{"max_message_size the state chunk", set("max_message_size", s.StateChunk, "max_batch_bytes", largestRequest), ""},
	})
}

func TestClusterShapeLimits(t *testing.T) {
	runClusterCases(t, []clusterCase{
		{"cluster id of 256 bytes", func(_ *testing.T, m map[string]any) { m["cluster_id"] = strings.Repeat("x", 256) }, ""},
		{"cluster id of 257 bytes", func(_ *testing.T, m map[string]any) { m["cluster_id"] = strings.Repeat("x", 257) },
			"cluster_id: 257 bytes is above 256"},
		{"1027 replicas", func(_ *testing.T, m map[string]any) {
			m["replicas"] = make([]any, 1027)
		}, "replicas: 1027 replicas is above 1024"},
		{"16 addresses", func(_ *testing.T, m map[string]any) {
			var addrs []string
			for p := range 16 {
				addrs = append(addrs, fmt.Sprintf("/ip4/10.0.0.1/tcp/%d", 5000+p))
			}
			setAddrs(m, 0, addrs...)
		}, ""},
		{"17 addresses", func(_ *testing.T, m map[string]any) {
			var addrs []string
			for p := range 17 {
				addrs = append(addrs, fmt.Sprintf("/ip4/10.0.0.1/tcp/%d", 5000+p))
			}
			setAddrs(m, 0, addrs...)
		}, "replicas[0].addrs: 17 addresses is above 16"},
	})
}

// The largest cluster the ceiling allows is accepted, given a frame its
// NEW-VIEW fits: the ceiling refuses only the absurd.
func TestClusterOfMaxReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("1024 keys")
	}
	f := File{ClusterID: "big", Protocol: Protocol{CheckpointInterval: 1, Window: 2, MaxBatch: 1,
		MaxMessageSize: 1 << 30, ViewChangeTicks: 1, TickMS: 1}}
	for i := range maxReplicas {
		seed := make([]byte, 32)
		seed[0], seed[1] = byte(i), byte(i>>8)
		k, err := crypto.NewPrivateKeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := network.PeerIDOf(k.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		f.Replicas = append(f.Replicas, ReplicaEntry{ID: uint32(i), PublicKey: k.PublicKey().Hex(), PeerID: pid.String(),
			Addrs: []string{fmt.Sprintf("/ip4/10.%d.%d.1/tcp/4001", i>>8, i&255)}})
	}
	if _, err := Validate(f); err != nil {
		t.Fatal(err)
	}
}

func TestClusterSharedAddresses(t *testing.T) {
	// fuzzClusterFile's replica i listens on /ip4/10.0.0.(i+1)/tcp/4001 and
	// /dns4/ri.example/udp/4001/quic-v1.
	runClusterCases(t, []clusterCase{
		{"one multiaddr, two replicas", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 2, "/ip4/10.0.0.1/tcp/4001")
		}, "replicas[2].addrs[0]: /ip4/10.0.0.1/tcp/4001 is where replicas[0].addrs[0] listens too"},
		{"one TCP port, two replicas", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 1, "/ip4/10.0.0.2/tcp/4001", "/ip4/10.0.0.1/tcp/4001/ws")
		}, "replicas[1].addrs[1]: /ip4/10.0.0.1/tcp/4001 is where replicas[0].addrs[0] listens too"},
		{"one UDP port, two replicas", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 3, "/ip4/10.0.0.4/tcp/4001", "/dns4/R0.Example/udp/4001/quic")
		}, "replicas[3].addrs[1]: /dns4/r0.example/udp/4001 is where replicas[0].addrs[1] listens too"},
		{"one IPv6 address written two ways", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 0, "/ip6/2001:db8::1/tcp/4001")
			setAddrs(m, 1, "/ip6/2001:0db8:0:0:0:0:0:1/tcp/4001")
		}, "replicas[1].addrs[0]: /ip6/2001:db8::1/tcp/4001 is where replicas[0].addrs[0] listens too"},
		{"one address twice in a replica", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 1, "/ip4/10.0.0.2/tcp/4001", "/ip4/10.0.0.2/tcp/4001")
		}, "replicas[1].addrs[1]: same as replicas[1].addrs[0]"},
		{"TCP and UDP on one host and port", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 1, "/ip4/10.0.0.1/udp/4001/quic-v1")
		}, ""},
		{"one host, two ports", func(_ *testing.T, m map[string]any) {
			for i := range 4 {
				setAddrs(m, i, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 9000+i), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", 9000+i))
			}
		}, ""},
		{"QUIC and WebTransport on one replica's port", func(_ *testing.T, m map[string]any) {
			setAddrs(m, 1, "/ip4/10.0.0.2/udp/4001/quic-v1", "/ip4/10.0.0.2/udp/4001/quic-v1/webtransport")
		}, ""},
	})
}

func TestClusterClients(t *testing.T) {
	k0, k1 := clientKey(t, 0).Hex(), clientKey(t, 1).Hex()
	runClusterCases(t, []clusterCase{
		{"two clients", func(_ *testing.T, m map[string]any) { setClients(m, k0, k1) }, ""},
		{"empty list", func(_ *testing.T, m map[string]any) { setClients(m) }, "clients: empty; leave the field out"},
		{"not hex", func(_ *testing.T, m map[string]any) { setClients(m, k0, "zz") }, "clients[1]: crypto: parse public key"},
		{"too short", func(_ *testing.T, m map[string]any) { setClients(m, k0[:62]) }, "clients[0]: crypto: parse public key"},
		{"twice", func(_ *testing.T, m map[string]any) { setClients(m, k0, k1, k0) }, "clients[2]: same as clients[0]"},
		{"twice, in upper case", func(_ *testing.T, m map[string]any) { setClients(m, k0, strings.ToUpper(k0)) },
			"clients[1]: same as clients[0]"},
		{"a replica's key", func(_ *testing.T, m map[string]any) { setClients(m, k0, entry(m, 3)["public_key"].(string)) },
			"clients[1]: same as replicas[3].public_key"},
		{"not a list", func(_ *testing.T, m map[string]any) { m["clients"] = k0 }, "clients: "},
	})

	m := clusterJSON(t, 4)
	data, _ := json.Marshal(m)
	open, err := Parse("cluster.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if !open.AdmitsEveryClient() || open.Clients != nil {
		t.Fatalf("a file without clients admits %d keys", len(open.Clients))
	}
	setClients(m, k1, k0)
	data, _ = json.Marshal(m)
	closed, err := Parse("cluster.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if closed.AdmitsEveryClient() || len(closed.Clients) != 2 || closed.Clients[0].Hex() != k1 || closed.Clients[1].Hex() != k0 {
		t.Fatalf("clients %v, want [%s %s]", closed.Clients, k1, k0)
	}
}

// A file written before max_batch_bytes and max_message_size existed gets
// the defaults, and what the file says reaches the core and the network.
func TestClusterByteLimitsReachTheReplica(t *testing.T) {
	m := clusterJSON(t, 4)
	delete(protocolOf(m), "max_batch_bytes")
	delete(protocolOf(m), "max_message_size")
	data, _ := json.Marshal(m)
	c, err := Parse("cluster.json", data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ReplicaConfig(1)
	if cfg.MaxBatchBytes != pbft.DefaultMaxBatchBytes || cfg.MaxMessageSize != network.DefaultMaxFrameSize ||
		c.MaxMessageSize() != network.DefaultMaxFrameSize || c.File.Protocol != DefaultProtocol {
		t.Fatalf("without the fields: batch bytes %d, message size %d, frame %d, protocol %+v",
			cfg.MaxBatchBytes, cfg.MaxMessageSize, c.MaxMessageSize(), c.File.Protocol)
	}
	protocolOf(m)["max_batch_bytes"], protocolOf(m)["max_message_size"] = 8<<20, 32<<20
	data, _ = json.Marshal(m)
	if c, err = Parse("cluster.json", data); err != nil {
		t.Fatal(err)
	}
	if cfg := c.ReplicaConfig(2); cfg.MaxBatchBytes != 8<<20 || cfg.MaxMessageSize != 32<<20 || c.MaxMessageSize() != 32<<20 {
		t.Fatalf("batch bytes %d, message size %d, frame %d; want the file's", cfg.MaxBatchBytes, cfg.MaxMessageSize, c.MaxMessageSize())
	}
	// In Go, as in pbft.Config, zero means the default.
	f := fuzzClusterFile(t, 4, DefaultProtocol)
	f.Protocol.MaxBatchBytes, f.Protocol.MaxMessageSize = 0, 0
	if c, err = Validate(f); err != nil {
		t.Fatal(err)
	}
	if c.File.Protocol != DefaultProtocol {
		t.Fatalf("Validate left %+v", c.File.Protocol)
	}
	if err := ValidateProtocol(Protocol{CheckpointInterval: 1, Window: 2, MaxBatch: 1, ViewChangeTicks: 1, TickMS: 1}); err != nil {
		t.Fatal(err)
	}
}

// largestRequest is the core's bound: a batch of that many bytes it
// accepts, one byte fewer it refuses.
func TestLargestRequestIsTheCoresBound(t *testing.T) {
	c, err := Validate(fuzzClusterFile(t, 4, DefaultProtocol))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ReplicaConfig(0)
	cfg.Signer, cfg.Service = publicOnly(c.Pubs[0]), null.New()
	cfg.MaxBatchBytes = largestRequest
	if _, err := pbft.New(cfg); err != nil {
		t.Fatalf("max batch bytes %d: %v", cfg.MaxBatchBytes, err)
	}
	cfg.MaxBatchBytes--
	if _, err := pbft.New(cfg); !errors.Is(err, pbft.ErrConfig) {
		t.Fatalf("max batch bytes %d: %v, want refused", cfg.MaxBatchBytes, err)
	}
}

// The bound that spares computing hopeless NEW-VIEWs is below the size the
// core computes, or it would refuse windows that fit.
func TestNewViewLowerBound(t *testing.T) {
	for _, n := range []int{4, 7, 31, 100} {
		for _, w := range []uint64{2, 64, 1024} {
			cfg := pbft.Config{Replicas: make([]crypto.PublicKey, n), CheckpointInterval: 1, WindowSize: w}
			exact := pbft.WorstCaseSizes(cfg).NewView
			if lb := newViewLowerBound(n, w); lb > uint64(exact) || lb < uint64(exact)/2 {
				t.Errorf("n %d, window %d: bound %d, exact %d", n, w, lb, exact)
			}
		}
	}
}

// Whatever the core refuses, the cluster file check refuses in one line
// that names the protocol fields and keeps the core's error.
func TestClusterCoreCheck(t *testing.T) {
	c, err := Validate(fuzzClusterFile(t, 4, DefaultProtocol))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCore(c); err != nil {
		t.Fatalf("a valid cluster: %v", err)
	}
	c.File.Protocol.MaxBatch = -1 // past validateProtocol, as a rule it lacks would be
	err = checkCore(c)
	if !errors.Is(err, pbft.ErrConfig) || !strings.HasPrefix(err.Error(), "protocol: change checkpoint_interval, window, max_batch,") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("core refusal: %v", err)
	}
}

// What the cluster file says about frames and clients reaches the network.
func TestClusterHostConfig(t *testing.T) {
	m := clusterJSON(t, 4)
	protocolOf(m)["max_message_size"] = 32 << 20
	data, _ := json.Marshal(m)
	c, err := Parse("cluster.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := c.hostConfig(1, nil, nil); cfg.MaxFrameSize != 32<<20 || cfg.Clients != nil || cfg.Self != 1 ||
		len(cfg.ListenAddrs) != 2 || cfg.ListenAddrs[0] != "/ip4/10.0.0.2/tcp/4001" {
		t.Fatalf("open cluster: %+v", cfg)
	}
	setClients(m, clientKey(t, 0).Hex())
	data, _ = json.Marshal(m)
	if c, err = Parse("cluster.json", data); err != nil {
		t.Fatal(err)
	}
	if cfg := c.hostConfig(1, nil, nil); len(cfg.Clients) != 1 || !bytes.Equal(cfg.Clients[0], clientKey(t, 0)) {
		t.Fatalf("closed cluster: clients %v", cfg.Clients)
	}
}
