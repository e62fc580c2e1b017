package bulwark

import (
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
)

// TestNewReplicaEntryMakesAFileThatValidates: four entries made from
// public keys alone form a cluster file Load accepts, with the peer ids
// Validate checks against the keys.
func TestNewReplicaEntryMakesAFileThatValidates(t *testing.T) {
	f := File{ClusterID: "entries", Protocol: DefaultProtocol}
	for i := range uint32(4) {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewReplicaEntry(i, key.PublicKey(), "127.0.0.1", 9000+int(i))
		if err != nil {
			t.Fatal(err)
		}
		f.Replicas = append(f.Replicas, e)
	}
	if _, err := Validate(f); err != nil {
		t.Fatalf("a file of NewReplicaEntry entries: %v", err)
	}
	if got := f.Replicas[2].Addrs; got[0] != "/ip4/127.0.0.1/tcp/9002" || got[1] != "/ip4/127.0.0.1/udp/9002/quic-v1" {
		t.Fatalf("addrs = %v", got)
	}
}

func TestNewReplicaEntryNamesHostsAndRefusesBadInput(t *testing.T) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"::1": "/ip6/::1/tcp/1", "replica-0.example": "/dns/replica-0.example/tcp/1"} {
		e, err := NewReplicaEntry(0, key.PublicKey(), host, 1)
		if err != nil || e.Addrs[0] != want {
			t.Errorf("host %s: %v, %v; want %s", host, e.Addrs, err, want)
		}
	}
	for name, bad := range map[string]func() error{
		"port 0":     func() error { _, err := NewReplicaEntry(0, key.PublicKey(), "127.0.0.1", 0); return err },
		"port 65536": func() error { _, err := NewReplicaEntry(0, key.PublicKey(), "127.0.0.1", 65536); return err },
		"empty host": func() error { _, err := NewReplicaEntry(0, key.PublicKey(), "", 1); return err },
		"short key":  func() error { _, err := NewReplicaEntry(0, key.PublicKey()[:5], "127.0.0.1", 1); return err },
	} {
		if err := bad(); err == nil || !strings.HasPrefix(err.Error(), "replica 0: ") {
			t.Errorf("%s: err = %v, want one naming replica 0", name, err)
		}
	}
}
