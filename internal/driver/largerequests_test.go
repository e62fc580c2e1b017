package driver_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/memnet"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// One client with 20 sessions putting 1 MB values, and the primary killed
// while they are in flight: every put completes in the new view, and no
// message the replicas sent was larger than a frame. (With whole batches in
// VIEW-CHANGE messages, each view change carried tens of megabytes, no
// VIEW-CHANGE was ever delivered, and the replicas climbed views forever.)
func TestLargeRequestsSurviveAViewChange(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a few hundred megabytes through four drivers")
	}
	const n, sessions, puts = 4, 20, 60
	net := memnet.New()
	keys, pubs := replicaKeys(t, n)
	drivers := make([]*driver.Driver, n)
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		d, err := driver.Start(ctx, driver.Config{
			Replica: pbft.Config{
				ClusterID: "large", ID: uint32(i), Replicas: pubs, Signer: keys[i],
				Verifier: crypto.Ed25519Verifier{}, Service: kv.New(), StatusTicks: 10, ViewChangeTicks: 100,
			},
			Storage: pbft.NewMemStore(), Transport: net.Replica(uint32(i)), TickInterval: 5 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		drivers[i], cancels[i] = d, cancel
	}
	stop := func(i int) {
		if cancels[i] != nil {
			net.Detach(uint32(i))
			cancels[i]()
			<-drivers[i].Done()
			cancels[i] = nil
		}
	}
	defer func() {
		for i := range n {
			stop(i)
		}
	}()
	key, _ := crypto.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := driver.StartClient(ctx, driver.ClientConfig{
		ClusterID: "large", Replicas: n, Signer: key, Transport: net.Client(key.PublicKey()),
		Sessions: sessions, TickInterval: 5 * time.Millisecond, RetransmitTicks: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 1_000_000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < puts; i += sessions {
				res, err := cl.Do(ctx, kv.EncodePut([]byte(fmt.Sprint(i)), value), false)
				if err != nil {
					t.Errorf("put %d: %v", i, err)
					return
				}
				if r, err := kv.DecodeResult(res.Result); err != nil || r.Status != kv.StatusOK {
					t.Errorf("put %d: %+v, %v", i, r, err)
					return
				}
				mu.Lock()
				done++
				if done == puts/3 {
					go stop(0) // the primary, with large batches in flight
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st, err := drivers[1].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.View == 0 {
		t.Fatal("the primary was stopped, yet no view change happened")
	}
	if o := net.Oversize(); o > 0 {
		t.Fatalf("%d messages larger than a frame were sent", o)
	}
	t.Logf("%d puts of 1 MB completed; view %d, last executed %d", done, st.View, st.LastExecuted)
}
