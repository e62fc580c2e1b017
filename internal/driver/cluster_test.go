package driver_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/memnet"
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// cluster is n real drivers with real Badger directories over memnet.
type cluster struct {
	t       *testing.T
	dir     string
	net     *memnet.Network
	keys    []*crypto.PrivateKey
	pubs    []crypto.PublicKey
	k       uint64
	mu      sync.Mutex
	drivers []*driver.Driver
	stores  []*storage.DB
	cancels []context.CancelFunc
	metrics []*driver.Metrics // replica i's metrics, if any
}

func newCluster(t *testing.T, n int, k uint64) *cluster {
	return newClusterWithMetrics(t, n, k, nil)
}

// newClusterWithMetrics is newCluster with metrics[i], if any, set as
// replica i's Config.Metrics.
func newClusterWithMetrics(t *testing.T, n int, k uint64, metrics []*driver.Metrics) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), net: memnet.New(), k: k, metrics: metrics,
		drivers: make([]*driver.Driver, n), stores: make([]*storage.DB, n), cancels: make([]context.CancelFunc, n)}
	for range n {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.keys = append(c.keys, key)
		c.pubs = append(c.pubs, key.PublicKey())
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) dataDir(i int) string { return filepath.Join(c.dir, fmt.Sprintf("replica-%d", i)) }

// start opens replica i's store and starts its driver.
func (c *cluster) start(i int) {
	c.t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := storage.Open(storage.Options{Dir: c.dataDir(i), Logger: logger})
	if err != nil {
		c.t.Fatal(err)
	}
	var m *driver.Metrics
	if i < len(c.metrics) {
		m = c.metrics[i]
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := driver.Start(ctx, driver.Config{
		Metrics: m,
		Replica: pbft.Config{
			ClusterID: "test", ID: uint32(i), Replicas: c.pubs, Signer: c.keys[i],
			Verifier: crypto.Ed25519Verifier{}, Service: kv.New(), CheckpointInterval: c.k,
			MaxBatchSize: 64, StatusTicks: 10,
		},
		Store: db, Transport: c.net.Replica(uint32(i)), TickInterval: 5 * time.Millisecond, Logger: logger,
	})
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.drivers[i], c.stores[i], c.cancels[i] = d, db, cancel
	c.mu.Unlock()
}

// stop halts replica i's goroutine and closes its store: a kill as far as
// the protocol can tell (whatever was not yet synced need not survive).
func (c *cluster) stop(i int) {
	c.mu.Lock()
	d, db, cancel := c.drivers[i], c.stores[i], c.cancels[i]
	c.drivers[i], c.stores[i] = nil, nil
	c.mu.Unlock()
	if d == nil {
		return
	}
	c.net.Detach(uint32(i))
	cancel()
	<-d.Done()
	if err := db.Close(); err != nil {
		c.t.Errorf("close replica %d store: %v", i, err)
	}
}

func (c *cluster) status(i int) driver.Status {
	c.mu.Lock()
	d := c.drivers[i]
	c.mu.Unlock()
	if d == nil {
		return driver.Status{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.Status(ctx)
	if err != nil {
		c.t.Fatalf("replica %d status: %v", i, err)
	}
	return st
}

// run sends ops operations from a client with sessions concurrent sessions.
func (c *cluster) run(ops, sessions int, label string) {
	c.t.Helper()
	key, _ := crypto.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := driver.StartClient(ctx, driver.ClientConfig{
		ClusterID: "test", Replicas: len(c.pubs), Signer: key, Transport: c.net.Client(key.PublicKey()),
		Sessions: sessions, TickInterval: 5 * time.Millisecond, RetransmitTicks: 100,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < ops; i += sessions {
				k := []byte(fmt.Sprintf("%s-%d", label, i%500))
				res, err := cl.Do(ctx, kv.EncodePut(k, []byte(fmt.Sprintf("value-%d", i))), false)
				if err != nil {
					errs <- fmt.Errorf("operation %d: %w", i, err)
					return
				}
				if r, err := kv.DecodeResult(res.Result); err != nil || r.Status != kv.StatusOK {
					errs <- fmt.Errorf("operation %d: result %+v, %v", i, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
}

// converge waits until every running replica executed the same sequence
// number and holds the same state.
func (c *cluster) converge(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sts := make([]driver.Status, len(c.drivers))
		same := true
		for i := range c.drivers {
			sts[i] = c.status(i)
			if sts[i].LastExecuted != sts[0].LastExecuted || sts[i].StateDigest != sts[0].StateDigest {
				same = false
			}
		}
		if same && sts[0].LastExecuted > 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, st := range sts {
				c.t.Logf("replica %d: executed %d stable %d transfers %d", st.ID, st.LastExecuted, st.StableCheckpoint, st.Stats.StateTransfers)
			}
			c.t.Fatal("replicas did not converge")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diskUsage is what replica i's store occupies on disk (blocks allocated,
// not the sparse size of preallocated files).
//
// Badger's memtable log fills up to a flush and then starts over, so a raw
// reading depends on where in that cycle it lands; both readings first let
// the store flush and collect garbage (RunGC holds the store exclusively, so
// this is safe while the replica runs), then measure what is really kept.
func (c *cluster) diskUsage(i int) int64 {
	c.mu.Lock()
	db := c.stores[i]
	c.mu.Unlock()
	if err := db.RunGC(c.t.Context()); err != nil {
		c.t.Fatalf("replica %d: value-log GC: %v", i, err)
	}
	lsm, vlog := db.Size()
	return lsm + vlog
}

// TestDriverClusterOnBadger runs 20,000 operations through four real drivers
// with Badger directories: the data directory stays bounded, a killed replica
// restarts from its directory and converges, and a wiped one catches up by
// state transfer.
func TestDriverClusterOnBadger(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20,000 operations on disk")
	}
	c := newCluster(t, 4, 100)
	c.run(5_000, 64, "a")
	c.converge(30 * time.Second)
	early := c.diskUsage(1)

	// Replica 2 is killed in the middle of a run and misses the rest of it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		c.stop(2)
	}()
	c.run(5_000, 64, "b")
	<-done
	c.start(2)
	c.run(5_000, 64, "c")
	c.converge(60 * time.Second)

	c.stop(3)
	if err := os.RemoveAll(c.dataDir(3)); err != nil {
		t.Fatal(err)
	}
	c.start(3) // wiped clean: only state transfer brings it back
	c.run(5_000, 64, "d")
	c.converge(60 * time.Second)
	if st := c.status(3); st.Stats.StateTransfers == 0 {
		t.Fatal("the wiped replica caught up without a state transfer")
	}
	// The driver verifies replica signatures in parallel before stepping,
	// and the primary (replica 0 throughout) checks the client signatures
	// of each batch's requests together: nearly every check the core makes
	// is answered from one or the other, not made one by one.
	for _, id := range []int{0, 1} {
		st := c.status(id)
		if ahead := st.PreverifiedSignatures + st.BatchedSignatures; ahead < 10*st.InlineSignatures || st.PreverifiedSignatures == 0 || (id == 0) != (st.BatchedSignatures > 0) {
			t.Fatalf("replica %d: %d signature checks answered from parallel verification, %d batched, %d made inline",
				id, st.PreverifiedSignatures, st.BatchedSignatures, st.InlineSignatures)
		} else {
			t.Logf("replica %d: %d signature checks answered from parallel verification, %d batched, %d made inline",
				id, st.PreverifiedSignatures, st.BatchedSignatures, st.InlineSignatures)
		}
	}
	late := c.diskUsage(1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use with four replicas, their stores and a client in one process: %d MB", ms.HeapInuse>>20)
	t.Logf("replica 1 data directory: %d bytes at 5,000 operations, %d at 20,000", early, late)
	// Below a megabyte the ratio measures Badger's file granularity (SST
	// blocks, manifest, the memtable log), not growth: without garbage
	// collection the same run leaves several megabytes.
	if late > max(2*early, 1<<20) {
		t.Fatalf("data directory grew from %d to %d bytes", early, late)
	}
}
