package driver_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/memnet"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// event is one thing a replica's driver did to its store or its transport.
type event struct {
	write  []pbft.Record // a Write
	synced bool          // this event made everything before it durable
	send   *wire.Message
	failed bool // a store operation that failed
}

// orderLog records, for one replica, every store operation and every send
// in the order the driver made them.
type orderLog struct {
	mu     sync.Mutex
	events []event
}

func (l *orderLog) add(e event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// recordingStore is a MemStore that logs its operations.
type recordingStore struct {
	*pbft.MemStore
	log *orderLog
}

func (s recordingStore) Write(recs []pbft.Record, sync bool) error {
	s.log.add(event{write: append([]pbft.Record(nil), recs...), synced: sync})
	return s.MemStore.Write(recs, sync)
}

func (s recordingStore) PutSnapshot(seq uint64, data []byte) error {
	s.log.add(event{synced: true})
	return s.MemStore.PutSnapshot(seq, data)
}

func (s recordingStore) DeleteBelow(seq uint64) error {
	s.log.add(event{synced: true})
	return s.MemStore.DeleteBelow(seq)
}

// recordingTransport logs every message a replica sends.
type recordingTransport struct {
	pbft.Transport
	log *orderLog
}

func (t recordingTransport) Send(id uint32, m *wire.Message) {
	t.log.add(event{send: m})
	t.Transport.Send(id, m)
}

// conflictsKind names a message by type, view and sequence number.
func conflictsKind(m *wire.Message) (string, bool) {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return fmt.Sprintf("pre-prepare v=%d s=%d", c.PrePrepare.GetView(), c.PrePrepare.GetSequence()), true
	case *wire.Message_Prepare:
		return fmt.Sprintf("prepare v=%d s=%d", c.Prepare.GetView(), c.Prepare.GetSequence()), true
	case *wire.Message_Commit:
		return fmt.Sprintf("commit v=%d s=%d", c.Commit.GetView(), c.Commit.GetSequence()), true
	case *wire.Message_ViewChange:
		return fmt.Sprintf("view change for view %d", c.ViewChange.GetNewView()), true
	case *wire.Message_NewView:
		return fmt.Sprintf("new view for view %d", c.NewView.GetView()), true
	}
	return fmt.Sprintf("%T", m.Content), false
}

// unsynced reports what binding record of the message sent at index i of
// events was not yet written and synced, or "".
func unsynced(id uint32, events []event, i int) string {
	m := events[i].send
	var want func(pbft.Record) bool
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		pp := c.PrePrepare
		want = func(r pbft.Record) bool {
			return r.Kind == pbft.RecordPrePrepare && r.Sequence == pp.GetSequence() && r.View == pp.GetView()
		}
	case *wire.Message_Prepare:
		p := c.Prepare
		if p.GetReplica() != id {
			return ""
		}
		want = func(r pbft.Record) bool {
			return r.Kind == pbft.RecordPrepare && r.Sequence == p.GetSequence() && r.View == p.GetView()
		}
	case *wire.Message_Commit:
		cm := c.Commit
		want = func(r pbft.Record) bool {
			return r.Kind == pbft.RecordCommit && r.Sequence == cm.GetSequence() && r.View == cm.GetView()
		}
	case *wire.Message_ViewChange:
		v := c.ViewChange.GetNewView()
		want = func(r pbft.Record) bool { return r.Kind == pbft.RecordView && r.View >= v }
	case *wire.Message_NewView:
		nv := c.NewView
		if nv.GetReplica() != id {
			return "" // relayed
		}
		want = func(r pbft.Record) bool {
			if r.Kind != pbft.RecordView || r.View != nv.GetView() {
				return false
			}
			stored := &wire.NewView{}
			return proto.Unmarshal(r.Data, stored) == nil && proto.Equal(stored, nv)
		}
	default:
		return ""
	}
	if pp := m.GetPrePrepare(); pp != nil && pp.GetReplica() != id {
		return "" // a primary's pre-prepare relayed: not this replica's to persist
	}
	written := -1
	for j := range i {
		for _, r := range events[j].write {
			if want(r) {
				written = j
				break
			}
		}
		if written >= 0 && events[j].synced {
			return ""
		}
	}
	if written < 0 {
		return "its record was never written before it left"
	}
	return "its record was written but not synced before it left"
}

// The driver sends no message before the record that binds it is synced:
// its pre-prepares, prepares and commits, the view of a VIEW-CHANGE, and a
// primary's NEW-VIEW. Four drivers over memnet and MemStores, the primary
// stopped halfway so a view change happens; every store operation and send
// of every replica is logged in order, then checked.
func TestDriverPersistsBeforeSending(t *testing.T) {
	const n = 4
	net := memnet.New()
	keys, pubs := replicaKeys(t, n)
	logs := make([]*orderLog, n)
	drivers := make([]*driver.Driver, n)
	cancels := make([]context.CancelFunc, n)
	logger := slog.New(slog.DiscardHandler)
	for i := range n {
		logs[i] = &orderLog{}
		ctx, cancel := context.WithCancel(context.Background())
		d, err := driver.Start(ctx, driver.Config{
			Replica: pbft.Config{
				ClusterID: "order", ID: uint32(i), Replicas: pubs, Signer: keys[i],
				Verifier: crypto.Ed25519Verifier{}, Service: kv.New(), CheckpointInterval: 8,
				MaxBatchSize: 4, StatusTicks: 4, ViewChangeTicks: 40,
			},
			Storage:      recordingStore{MemStore: pbft.NewMemStore(), log: logs[i]},
			Transport:    recordingTransport{Transport: net.Replica(uint32(i)), log: logs[i]},
			TickInterval: 2 * time.Millisecond, Logger: logger,
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := driver.StartClient(ctx, driver.ClientConfig{
		ClusterID: "order", Replicas: n, Signer: key, Transport: net.Client(key.PublicKey()),
		Sessions: 8, TickInterval: 2 * time.Millisecond, RetransmitTicks: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(from, to int) {
		var wg sync.WaitGroup
		for s := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + s; i < to; i += 8 {
					if _, err := cl.Do(ctx, kv.EncodePut([]byte(fmt.Sprint(i%16)), []byte(fmt.Sprint(i))), false); err != nil {
						t.Errorf("operation %d: %v", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	run(0, 100)
	stop(0) // the primary: a view change, with a NEW-VIEW from replica 1
	run(100, 200)
	for i := 1; i < n; i++ {
		stop(i)
	}

	kinds := map[string]int{}
	for id, l := range logs {
		for i, e := range l.events {
			if e.send == nil {
				continue
			}
			if why := unsynced(uint32(id), l.events, i); why != "" {
				item, _ := conflictsKind(e.send)
				t.Fatalf("replica %d sent a %s: %s", id, item, why)
			}
			kinds[fmt.Sprintf("%T", e.send.Content)]++
		}
	}
	for _, m := range []*wire.Message{
		{Content: &wire.Message_PrePrepare{}}, {Content: &wire.Message_Prepare{}}, {Content: &wire.Message_Commit{}},
		{Content: &wire.Message_ViewChange{}}, {Content: &wire.Message_NewView{}},
	} {
		if k := fmt.Sprintf("%T", m.Content); kinds[k] == 0 {
			t.Errorf("no %s was sent: the run did not reach what the test checks", k)
		}
	}
	t.Logf("sends checked, by type: %v", kinds)
}
