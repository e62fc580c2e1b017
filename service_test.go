package bulwark_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

// TestReplicaRefusesAnotherService: a cluster file that names its service
// makes a replica started with another service (or another version) refuse
// to start, in one line that names both; the named one starts.
func TestReplicaRefusesAnotherService(t *testing.T) {
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, keys, err := testnet.Generate(testnet.Loopback(4), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	f.Service = &bulwark.ServiceID{Name: "kv", Version: "1"}
	c, err := bulwark.Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	start := func(svc statemachine.Service) error {
		r, err := bulwark.StartReplica(t.Context(), bulwark.ReplicaOptions{
			Cluster: c, ID: 0, Key: keys[0], DataDir: filepath.Join(dir, "data"), Service: svc,
		})
		if err == nil {
			return r.Stop()
		}
		return err
	}
	err = start(null.New())
	if err == nil || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "the cluster file names service kv version 1, this replica runs null version 1") {
		t.Fatalf("a null replica in a kv cluster: %v, want a one-line refusal naming both", err)
	}
	if err := start(kv.New()); err != nil {
		t.Fatalf("the named service: %v", err)
	}
	f.Service.Version = "2"
	if c, err = bulwark.Validate(f); err != nil {
		t.Fatal(err)
	}
	if err := start(kv.New()); err == nil || !strings.Contains(err.Error(), "names service kv version 2, this replica runs kv version 1") {
		t.Fatalf("another version: %v", err)
	}
	// The service is part of what every message is signed under: replicas
	// whose files disagree on it verify none of each other's messages.
	v2 := c.ReplicaConfig(0).ClusterID
	f.Service = nil
	plain, err := bulwark.Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	if v2 == plain.ReplicaConfig(0).ClusterID || !strings.HasPrefix(v2, f.ClusterID) {
		t.Fatalf("signing domain with service kv@2 %q, without %q: want them to differ", v2, plain.ReplicaConfig(0).ClusterID)
	}
	f.Service = &bulwark.ServiceID{Name: "kv"}
	if _, err := bulwark.Validate(f); err == nil || !strings.HasPrefix(err.Error(), "service: ") {
		t.Fatalf("a service without a version: %v", err)
	}
}
