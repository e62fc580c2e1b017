package driver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/memnet"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// replicaKeys generates n replicas' keys.
func replicaKeys(t *testing.T, n int) ([]*crypto.PrivateKey, []crypto.PublicKey) {
	t.Helper()
	var keys []*crypto.PrivateKey
	var pubs []crypto.PublicKey
	for range n {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys, pubs = append(keys, key), append(pubs, key.PublicKey())
	}
	return keys, pubs
}

// failingStore is a MemStore that logs the operations that succeed and
// marks those that fail (FailAfter counts writes, snapshots and deletions
// alike, so any of them may be the first).
type failingStore struct {
	*pbft.MemStore
	log *orderLog
}

func (s failingStore) logged(err error, e event) error {
	if err != nil {
		s.log.add(event{failed: true})
		return err
	}
	s.log.add(e)
	return nil
}

func (s failingStore) Write(recs []pbft.Record, sync bool) error {
	return s.logged(s.MemStore.Write(recs, sync), event{write: append([]pbft.Record(nil), recs...), synced: sync})
}

func (s failingStore) PutSnapshot(seq uint64, data []byte) error {
	return s.logged(s.MemStore.PutSnapshot(seq, data), event{synced: true})
}

func (s failingStore) DeleteBelow(seq uint64) error {
	return s.logged(s.MemStore.DeleteBelow(seq), event{synced: true})
}

// A replica whose store fails stops, with the store's error, and sends
// nothing after the failed write: what the writer still held when the
// write failed never leaves, though the loop had stepped past it.
func TestStoreFailureStopsTheReplicaBeforeItSends(t *testing.T) {
	const n = 4
	net := memnet.New()
	keys, pubs := replicaKeys(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := make([]*orderLog, n)
	drivers := make([]*driver.Driver, n)
	for i := range n {
		logs[i] = &orderLog{}
		store := pbft.NewMemStore()
		if i == 1 {
			store.FailAfter(40)
		}
		d, err := driver.Start(ctx, driver.Config{
			Replica: pbft.Config{
				ClusterID: "fail", ID: uint32(i), Replicas: pubs, Signer: keys[i],
				Verifier: crypto.Ed25519Verifier{}, Service: kv.New(), CheckpointInterval: 8, MaxBatchSize: 4,
			},
			Storage:      failingStore{MemStore: store, log: logs[i]},
			Transport:    recordingTransport{Transport: net.Replica(uint32(i)), log: logs[i]},
			TickInterval: 2 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		drivers[i] = d
	}
	key, _ := crypto.GenerateKey(nil)
	cl, err := driver.StartClient(ctx, driver.ClientConfig{
		ClusterID: "fail", Replicas: n, Signer: key, Transport: net.Client(key.PublicKey()),
		Sessions: 4, TickInterval: 2 * time.Millisecond, RetransmitTicks: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		select {
		case <-drivers[1].Done():
		default:
			if _, err := cl.Do(ctx, kv.EncodePut([]byte(fmt.Sprint(i%8)), []byte("v")), false); err != nil {
				t.Fatalf("operation %d: %v", i, err)
			}
			continue
		}
		break
	}
	if err := drivers[1].Err(); !errors.Is(err, pbft.ErrPowerLoss) {
		t.Fatalf("the replica stopped with %v, want the store's error", err)
	}
	cancel()
	for _, d := range drivers {
		<-d.Done()
	}
	events := logs[1].events
	failed := -1
	for i, e := range events {
		if e.failed {
			failed = i
			break
		}
		if e.send != nil {
			if why := unsynced(1, events, i); why != "" {
				t.Fatalf("a send before the failure: %s", why)
			}
		}
	}
	if failed < 0 {
		t.Fatal("no write failed")
	}
	for _, e := range events[failed+1:] {
		if e.send != nil {
			item, _ := conflictsKind(e.send)
			t.Fatalf("the replica sent a %s after its store failed", item)
		}
	}
}
