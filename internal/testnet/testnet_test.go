package testnet_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

func clientKey(t *testing.T, i int) crypto.PublicKey {
	t.Helper()
	k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{byte(200 + i)}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

func TestAdmitClients(t *testing.T) {
	dir := t.TempDir()
	path, err := testnet.WriteTestnet(dir, testnet.Loopback(4), []int{9000, 9001, 9002, 9003}, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	keys := []crypto.PublicKey{clientKey(t, 0), clientKey(t, 1)}
	if err := bulwark.AdmitClients(path, keys); err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) != 2 || !bytes.Equal(c.Clients[0], keys[0]) || !bytes.Equal(c.Clients[1], keys[1]) || c.N() != 4 {
		t.Fatalf("admitted %v, want %v", c.Clients, keys)
	}
	// A replica's key is refused and the file stays as it was.
	err = bulwark.AdmitClients(path, []crypto.PublicKey{keys[0], c.Pubs[2]})
	if err == nil || !strings.Contains(err.Error(), "clients[1]: same as replicas[2].public_key") {
		t.Fatalf("a replica's key admitted: %v", err)
	}
	if again, err := bulwark.Load(path); err != nil || len(again.Clients) != 2 {
		t.Fatalf("after a refused rewrite: %v, %v", again, err)
	}
	if err := bulwark.AdmitClients(path, nil); err != nil {
		t.Fatal(err)
	}
	if c, err = bulwark.Load(path); err != nil || !c.AdmitsEveryClient() {
		t.Fatalf("no keys: %v, %v", c, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".cluster-*")); len(matches) != 0 {
		t.Fatalf("left behind %v", matches)
	}
}
