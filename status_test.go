package bulwark_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// startCluster runs four real replicas (Badger, libp2p on loopback) of the
// kv service in this process and returns their cluster.
func startCluster(t *testing.T) (*bulwark.Cluster, []*bulwark.Replica) {
	t.Helper()
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := testnet.WriteTestnet(dir, testnet.Loopback(4), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*bulwark.Replica
	for id := range uint32(4) {
		key, err := crypto.LoadPrivateKey(filepath.Join(testnet.ReplicaDir(dir, id), "key"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := bulwark.StartReplica(t.Context(), bulwark.ReplicaOptions{
			Cluster: c, ID: id, Key: key, DataDir: filepath.Join(testnet.ReplicaDir(dir, id), "data"), Service: kv.New(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := r.Stop(); err != nil {
				t.Error(err)
			}
		})
		rs = append(rs, r)
	}
	return c, rs
}

// TestClientStatus: a running client asks every replica for its status over
// its own connection, between its operations, and sees them all agree.
func TestClientStatus(t *testing.T) {
	c, rs := startCluster(t)
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := bulwark.Dial(ctx, c, key, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 3 {
		if _, err := cl.Do(ctx, kv.EncodePut([]byte{'k', byte(i)}, []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
	for {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		sts, err := cl.Status(sctx)
		scancel()
		if err != nil {
			t.Fatal(err)
		}
		agree := len(sts) == 4
		for _, s := range sts {
			agree = agree && s.Reachable && s.LastExecuted == sts[0].LastExecuted && s.LastExecuted >= 3 && s.View == 0 && s.Primary == 0
		}
		if agree {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("replicas never agreed on having executed the 3 puts: %+v", sts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An embedder reads its own replica's status without the network: the
	// same figures.
	for _, r := range rs {
		st, err := r.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.ID != r.ID || !st.Reachable || st.LastExecuted < 3 || st.View != 0 || st.StateDigest == "" || st.ViewChanging {
			t.Errorf("replica %d's own status: %+v", r.ID, st)
		}
	}
	// The client still works after a status round.
	if _, err := cl.Do(ctx, kv.EncodeGet([]byte{'k', 0})); err != nil {
		t.Fatal(err)
	}
}
