package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

// run executes the bulwark command line in-process and returns its stdout.
func run(ctx context.Context, args ...string) (string, error) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	out, err := run(t.Context(), "keygen", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	key, err := crypto.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := network.PeerIDOf(key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if out != pid.String()+"\n" {
		t.Fatalf("printed %q, want the peer id %s", out, pid)
	}
	if _, err := run(t.Context(), "keygen", "--out", path); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
	// --json gives the two cluster-file fields that come from the key.
	other := filepath.Join(t.TempDir(), "key")
	out, err = run(t.Context(), "keygen", "--out", other, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entry struct {
		PeerID    string `json:"peer_id"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &entry); err != nil {
		t.Fatalf("keygen --json printed %q: %v", out, err)
	}
	k2, err := crypto.LoadPrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	pid2, err := network.PeerIDOf(k2.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if entry.PublicKey != k2.PublicKey().Hex() || entry.PeerID != pid2.String() {
		t.Fatalf("keygen --json = %+v, want peer id %s and public key %s", entry, pid2, k2.PublicKey().Hex())
	}
}

func TestTestnetFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := run(t.Context(), "testnet", "--replicas", "7", "--dir", dir, "--base-port", "21000"); err != nil {
		t.Fatal(err)
	}
	clusterJSON, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.N() != 7 || c.File.Protocol != bulwark.DefaultProtocol {
		t.Fatalf("cluster file: %d replicas, protocol %+v", c.N(), c.File.Protocol)
	}
	if strings.Contains(strings.ToLower(string(clusterJSON)), "private") {
		t.Fatal("cluster.json mentions private keys")
	}
	for i := range 7 {
		path := filepath.Join(dir, fmt.Sprintf("replica-%d", i), "key")
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %04o, want 0600", path, info.Mode().Perm())
		}
		key, err := crypto.LoadPrivateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key.PublicKey(), c.Pubs[i]) {
			t.Fatalf("replica %d: key does not match the cluster file", i)
		}
		if bytes.Contains(clusterJSON, []byte(hex.EncodeToString(key.Seed()))) {
			t.Fatalf("cluster.json holds replica %d's private seed", i)
		}
		want := []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 21000+i), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", 21000+i)}
		if got := c.File.Replicas[i].Addrs; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("replica %d addrs %v, want %v", i, got, want)
		}
	}
	if _, err := run(t.Context(), "testnet", "--replicas", "7", "--dir", dir); err == nil {
		t.Fatal("testnet overwrote an existing cluster")
	}
	if _, err := run(t.Context(), "testnet", "--replicas", "5", "--dir", t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "--replicas: ") {
		t.Fatalf("5 replicas: error %v", err)
	}
}

// TestReplicaAndClientCommands runs four replica commands and the client
// command in-process over loopback, checking the printed results.
func TestReplicaAndClientCommands(t *testing.T) {
	path, ctx, _ := startReplicas(t, nil)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"put", "k", "v1"}, "ok\n"},
		{[]string{"get", "k"}, "v1\n"},
		{[]string{"get", "missing"}, "\n"},
		{[]string{"cas", "k", "v1", "v2"}, "swapped\n"},
		{[]string{"cas", "k", "v1", "v3"}, "unchanged\n"},
		{[]string{"get", "k"}, "v2\n"},
		{[]string{"del", "k"}, "ok\n"},
		{[]string{"get", "k"}, "\n"},
	}
	for _, s := range steps {
		out, err := run(ctx, append([]string{"client", "--cluster", path, "--timeout", "20s"}, s.args...)...)
		if err != nil || out != s.want {
			t.Fatalf("client %v: %q, %v; want %q", s.args, out, err, s.want)
		}
	}
	// status: every replica reachable, all at the same sequence number and
	// state digest once the last operation has executed everywhere.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := run(ctx, "status", "--cluster", path, "--json")
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var sts []replicaStatus
		if err := json.Unmarshal([]byte(out), &sts); err != nil {
			t.Fatalf("status --json printed %q: %v", out, err)
		}
		same := len(sts) == 4
		for _, st := range sts {
			same = same && st.Reachable && st.LastExecuted == sts[0].LastExecuted && st.LastExecuted > 0 &&
				st.StateDigest == sts[0].StateDigest && len(st.StateDigest) == 64 && st.Primary == 0
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed 4 reachable replicas in agreement: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A cluster that does not answer: one line, non-nil error, in time.
	stranger := t.TempDir()
	other, err := writeTestnet(stranger, "127.0.0.1", []int{1, 2, 3, 4}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(ctx, "status", "--cluster", other, "--timeout", "300ms"); err != nil ||
		!strings.Contains(out, "replica 0: unreachable") {
		t.Fatalf("status of an unreachable cluster: %q, %v", out, err)
	}
	start := time.Now()
	_, err = run(ctx, "client", "--cluster", other, "--timeout", "500ms", "get", "k")
	if err == nil || err.Error() != "no 2f+1 matching replies within 500ms" {
		t.Fatalf("unreachable cluster: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("timeout took %v", time.Since(start))
	}
}

func TestClientArguments(t *testing.T) {
	for _, args := range [][]string{{"put", "k"}, {"get"}, {"cas", "k", "a"}, {"frob", "k"}, {"del", "a", "b"}} {
		if _, _, err := parseKVOp(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	o := defaultDemo
	o.Before, o.After = 1500*time.Millisecond, time.Second
	if err := runDemo(t.Context(), &out, o); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"Crashed replica 0", "new view 1", "same state digest"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the account does not mention %q:\n%s", want, out.String())
		}
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []string{"keygen", "testnet", "replica", "client", "demo"} {
		out, err := run(t.Context(), c, "--help")
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: %v\n%s", c, err, out)
		}
	}
}
