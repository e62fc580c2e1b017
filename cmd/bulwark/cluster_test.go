package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
)

// goodClusterJSON writes a testnet and returns its cluster file, decoded
// into a generic map so cases can break it in any way.
func goodClusterJSON(t *testing.T) map[string]any {
	t.Helper()
	path, err := writeTestnet(t.TempDir(), "127.0.0.1", []int{20000, 20001, 20002, 20003}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func replicaAt(m map[string]any, i int) map[string]any {
	return m["replicas"].([]any)[i].(map[string]any)
}

func TestClusterFileValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   string // the error's prefix, after "cluster.json: "
	}{
		{"good", func(map[string]any) {}, ""},
		{"missing cluster id", func(m map[string]any) { delete(m, "cluster_id") }, "cluster_id: missing"},
		{"not 3f+1", func(m map[string]any) { m["replicas"] = m["replicas"].([]any)[:3] }, "replicas: 3 replicas is not 3f+1"},
		{"id out of place", func(m map[string]any) { replicaAt(m, 1)["id"] = 7 }, "replicas[1].id: is 7, want 1"},
		{"id of the wrong type", func(m map[string]any) { replicaAt(m, 1)["id"] = "one" }, "replicas.id: "},
		{"public key not hex", func(m map[string]any) { replicaAt(m, 2)["public_key"] = "zz" }, "replicas[2].public_key: "},
		{"public key too short", func(m map[string]any) { replicaAt(m, 2)["public_key"] = "abcd" }, "replicas[2].public_key: "},
		{"public key twice", func(m map[string]any) {
			replicaAt(m, 3)["public_key"] = replicaAt(m, 0)["public_key"]
		}, "replicas[3].public_key: same as replicas[0].public_key"},
		{"peer id of another replica", func(m map[string]any) {
			replicaAt(m, 2)["peer_id"] = replicaAt(m, 1)["peer_id"]
		}, "replicas[2].peer_id: does not match public_key"},
		{"peer id garbage", func(m map[string]any) { replicaAt(m, 0)["peer_id"] = "not-a-peer-id" }, "replicas[0].peer_id: "},
		{"no addresses", func(m map[string]any) { replicaAt(m, 3)["addrs"] = []any{} }, "replicas[3].addrs: empty"},
		{"bad address", func(m map[string]any) {
			replicaAt(m, 3)["addrs"] = []any{"/ip4/127.0.0.1/tcp/1", "/ip9/nowhere"}
		}, "replicas[3].addrs[1]: "},
		{"private key material", func(m map[string]any) { replicaAt(m, 0)["private_key"] = "00" }, `json: unknown field "private_key"`},
		{"checkpoint interval zero", func(m map[string]any) {
			m["protocol"].(map[string]any)["checkpoint_interval"] = 0
		}, "protocol.checkpoint_interval: must be positive"},
		{"window too small", func(m map[string]any) { m["protocol"].(map[string]any)["window"] = 64 }, "protocol.window: 64 is not"},
		{"max batch zero", func(m map[string]any) { m["protocol"].(map[string]any)["max_batch"] = 0 }, "protocol.max_batch: 0 is below 1"},
		{"view change ticks zero", func(m map[string]any) {
			m["protocol"].(map[string]any)["view_change_ticks"] = 0
		}, "protocol.view_change_ticks: must be positive"},
		{"tick missing", func(m map[string]any) { delete(m["protocol"].(map[string]any), "tick_ms") }, "protocol.tick_ms: 0 is outside"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := goodClusterJSON(t)
			tc.mutate(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			c, err := bulwark.Parse("cluster.json", data)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("good file refused: %v", err)
				}
				if c.N() != 4 || len(c.Peers) != 4 || len(c.Peers[0].Addrs) != 2 {
					t.Fatalf("good file parsed wrong: %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error %q", tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "cluster.json: "+tc.want) {
				t.Fatalf("error %q, want prefix %q", msg, "cluster.json: "+tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
		})
	}
}

func TestClusterFileNotJSON(t *testing.T) {
	for _, data := range []string{"", "{", `{"cluster_id": "x"} {}`, "[]"} {
		if _, err := bulwark.Parse("cluster.json", []byte(data)); err == nil || !strings.HasPrefix(err.Error(), "cluster.json: ") {
			t.Errorf("%q: error %v", data, err)
		}
	}
	if _, err := bulwark.Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file loaded")
	}
}
