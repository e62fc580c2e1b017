package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

// The testnet's cluster file loads, names the ledger service, and each
// replica's key file holds the key the file lists; a second testnet in the
// same directory is refused rather than orphaning the first one's keys.
func TestTestnet(t *testing.T) {
	dir := t.TempDir()
	path, err := writeTestnet(dir, 4, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckService(ledger.New()); err != nil {
		t.Fatalf("the ledger is not the service the file names: %v", err)
	}
	for id := range c.N() {
		key, err := crypto.LoadPrivateKey(filepath.Join(replicaDir(dir, id), "key"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key.PublicKey(), c.Pubs[id]) {
			t.Fatalf("replica %d: key file and cluster file disagree", id)
		}
	}
	if _, err := writeTestnet(dir, 4, bulwark.DefaultProtocol); err == nil || !strings.Contains(err.Error(), "overwrite") {
		t.Fatalf("a second testnet in one directory: %v", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"testnet"}, {"client", "-accounts", "1"}} {
		if err := run(args); err == nil {
			t.Errorf("ledger %v: no error", args)
		}
	}
}

// The demo, which the README tells people to run first, works.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four replicas")
	}
	if err := run([]string{"demo", "-accounts", "4", "-transfers", "40"}); err != nil {
		t.Fatal(err)
	}
}
