package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

func TestTestnetHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	hosts := []string{"10.1.0.10", "10.1.0.11", "10.1.0.12", "10.1.0.13"}
	if _, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", dir, "--base-port", "7000",
		"--host", "127.0.0.1", "--hosts", strings.Join(hosts, ", ")); err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		want := []string{fmt.Sprintf("/ip4/%s/tcp/%d", h, 7000+i), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", h, 7000+i)}
		if got := c.File.Replicas[i].Addrs; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("replica %d addrs %v, want %v", i, got, want)
		}
	}
	for _, bad := range []struct{ hosts, want string }{
		{"10.0.0.1,10.0.0.2,10.0.0.3", "--hosts: 3 addresses for 4 replicas"},
		{"10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5", "--hosts: 5 addresses for 4 replicas"},
		{"10.0.0.1,10.0.0.2,::1,10.0.0.4", `--hosts: entry 2, "::1", is not an IPv4 address`},
		{"10.0.0.1,,10.0.0.3,10.0.0.4", `--hosts: entry 1, "", is not an IPv4 address`},
		{"10.0.0.1,10.0.0.2,10.0.0.3,example.org", `--hosts: entry 3, "example.org", is not an IPv4 address`},
	} {
		_, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", t.TempDir(), "--hosts", bad.hosts)
		if err == nil || !strings.HasPrefix(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--hosts %s: error %v, want one line starting %q", bad.hosts, err, bad.want)
		}
	}
	if _, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", t.TempDir(), "--host", "::1"); err == nil ||
		!strings.HasPrefix(err.Error(), "--host: ") {
		t.Errorf("--host ::1: error %v", err)
	}
}

func TestTestnetClientKeys(t *testing.T) {
	var hexes []string
	for range 3 {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		hexes = append(hexes, k.PublicKey().Hex())
	}
	// By default the cluster is open, and says so.
	dir := filepath.Join(t.TempDir(), "open")
	out, err := run(t.Context(), "testnet", "--replicas", "4", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AdmitsEveryClient() || !strings.Contains(out, "every client key is admitted") {
		t.Fatalf("default testnet: %d client keys, printed %q", len(c.Clients), out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "cluster.json")); strings.Contains(string(data), "clients") {
		t.Fatalf("an open cluster file lists clients:\n%s", data)
	}

	list := filepath.Join(t.TempDir(), "clients")
	if err := os.WriteFile(list, []byte("# the auditors\n\n  "+hexes[2]+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "closed")
	out, err = run(t.Context(), "testnet", "--replicas", "4", "--dir", dir,
		"--client-key", hexes[0], "--client-key", strings.ToUpper(hexes[1]), "--client-key-file", list)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = bulwark.Load(filepath.Join(dir, "cluster.json")); err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) != 3 || !strings.Contains(out, "3 client keys are admitted") {
		t.Fatalf("admitted %d client keys, printed %q", len(c.Clients), out)
	}
	for i, k := range c.Clients {
		if k.Hex() != hexes[i] {
			t.Fatalf("client %d is %s, want %s", i, k.Hex(), hexes[i])
		}
	}

	write := func(content string) string {
		path := filepath.Join(t.TempDir(), "clients")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dupFile, emptyFile := write(hexes[1]+"\n\n"+hexes[0]+"\n"), write("# nobody yet\n")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-key", hexes[0], "--client-key", "zz"}, `--client-key: entry 1: crypto: parse public key "zz"`},
		{[]string{"--client-key", hexes[0][:62]}, "--client-key: entry 0: crypto: parse public key"},
		{[]string{"--client-key", hexes[0], "--client-key", hexes[0]}, "--client-key: entry 1: the same key as --client-key: entry 0"},
		{[]string{"--client-key", hexes[0], "--client-key-file", dupFile},
			"--client-key-file: " + dupFile + " line 3: the same key as --client-key: entry 0"},
		{[]string{"--client-key-file", emptyFile}, "--client-key-file: " + emptyFile + " lists no key"},
		{[]string{"--client-key-file", missing}, "--client-key-file: open " + missing},
	} {
		dir := filepath.Join(t.TempDir(), "net")
		_, err := run(t.Context(), append([]string{"testnet", "--replicas", "4", "--dir", dir}, bad.args...)...)
		if err == nil || !strings.HasPrefix(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line starting %q", bad.args, err, bad.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%v: wrote %s", bad.args, dir)
		}
	}
}

// A replica says at start whether every client key may use it.
func TestTestnetReplicaLogsClientAccess(t *testing.T) {
	dir := t.TempDir()
	path, err := writeTestnet(dir, "127.0.0.1", []int{1, 2, 3, 4}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	logged := func() string {
		c, err := bulwark.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		logClientAccess(slog.New(slog.NewTextHandler(&buf, nil)), c, 2)
		if strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("want one line, logged %q", buf.String())
		}
		return buf.String()
	}
	if line := logged(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "every client key is admitted") {
		t.Fatalf("open cluster: logged %q", line)
	}
	var keys []crypto.PublicKey
	for range 2 {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.PublicKey())
	}
	if err := bulwark.AdmitClients(path, keys); err != nil {
		t.Fatal(err)
	}
	if line := logged(); !strings.Contains(line, "level=INFO") || !strings.Contains(line, "client_keys=2") {
		t.Fatalf("closed cluster: logged %q", line)
	}
}

// A key that is not the replica's is a --key mistake, found before the
// replica opens anything.
func TestTestnetReplicaRefusesAnotherKey(t *testing.T) {
	dir := t.TempDir()
	path, err := writeTestnet(dir, "127.0.0.1", []int{1, 2, 3, 4}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(t.Context(), "replica", "--cluster", path, "--id", "0", "--key", filepath.Join(testnet.ReplicaDir(dir, 1), "key"),
		"--log-level", "error")
	if err == nil || err.Error() != "--key: its public key is not replicas[0].public_key of the cluster file" {
		t.Fatalf("replica 0 with replica 1's key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(testnet.ReplicaDir(dir, 0), "data")); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created: %v", err)
	}
}
