package network

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
)

// clientState is what a replica host holds about clients, counted where it
// is held: libp2p's peerstore (keys, addresses, and, for the given client
// peer ids, protocols and identify metadata) and the host's own maps.
type clientState struct {
	keys, addrs, protocols, metadata int // peerstore
	connected                        int // of the given clients
	replyRoutes, streams, budget     int // the host's maps
}

func clientStateOf(h *ReplicaHost, clients []peer.ID) clientState {
	ps := h.host.Peerstore()
	st := clientState{keys: len(ps.PeersWithKeys()), addrs: len(ps.PeersWithAddrs())}
	for _, p := range clients {
		if protos, _ := ps.GetProtocols(p); len(protos) > 0 {
			st.protocols++
		}
		if _, err := ps.Get(p, "AgentVersion"); err == nil {
			st.metadata++
		}
		if h.host.Network().Connectedness(p) == network.Connected {
			st.connected++
		}
	}
	h.clientsMu.Lock()
	st.replyRoutes = len(h.clients)
	h.clientsMu.Unlock()
	h.mu.Lock()
	st.streams = len(h.streams)
	h.mu.Unlock()
	st.budget = h.budgetStats().Peers
	return st
}

// Many fresh client keys connect, send a request and leave: the replica
// host's per-client state returns to what it was before the first came.
func TestClientChurnLeavesNothingBehind(t *testing.T) {
	const (
		batches = 30
		batch   = 10
	)
	// The disconnect hook forgets nearly every client at once; the sweep
	// (shortened here) catches what identify recorded just after it, which
	// happens under load (TestSweepForgetsLateRecords covers the sweep).
	c := newCluster(t, 1, false, func(cfg *Config) { cfg.timings.sweepEvery = 200 * time.Millisecond })
	r0 := c.hosts[0]
	baseline := clientStateOf(r0, nil)

	var all []peer.ID
	for b := range batches {
		keys := make([]*crypto.PrivateKey, batch)
		hosts := make([]*ClientHost, batch)
		var wg sync.WaitGroup
		for i := range batch {
			keys[i] = newKey(t)
			pid, err := PeerIDOf(keys[i].PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, pid)
			wg.Go(func() {
				h, err := NewClientHost(context.Background(), keys[i], c.peers, WithLogger(quietLog))
				if err != nil {
					t.Error(err)
					return
				}
				hosts[i] = h
				h.Send(0, request(keys[i], 1))
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		want := make(map[pbft.From]bool, batch)
		for _, k := range keys {
			want[pbft.FromClient(k.PublicKey())] = true
		}
		for range batch {
			in := receive(t, r0.Inbound(), 10*time.Second)
			if !want[in.From] {
				t.Fatalf("batch %d: unexpected sender %+v", b, in.From)
			}
			delete(want, in.From)
		}
		if b == 0 {
			// The count sees clients while they are here (identify may
			// still be recording them); otherwise its return to the
			// baseline would prove nothing.
			eventually(t, 5*time.Second, "the first clients to be counted", func() bool {
				during := clientStateOf(r0, all)
				return during.keys == baseline.keys+batch && during.protocols == batch && during.metadata == batch &&
					during.replyRoutes == batch && during.streams == batch && during.connected == batch
			})
		}
		for _, h := range hosts {
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}

	var last clientState
	deadline := time.Now().Add(20 * time.Second)
	for {
		last = clientStateOf(r0, all)
		if last == baseline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d clients came and went, the replica holds %+v, baseline %+v", len(all), last, baseline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// What identify records of a client just after its last connection closed
// is caught by the sweep that follows a departure.
func TestSweepForgetsLateRecords(t *testing.T) {
	c := newCluster(t, 1, false, func(cfg *Config) { cfg.timings.sweepEvery = 100 * time.Millisecond })
	r0 := c.hosts[0]
	baseline := clientStateOf(r0, nil)

	// A late record: a client key and protocols, the client long gone.
	late := newKey(t)
	pid, err := PeerIDOf(late.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ps := r0.host.Peerstore()
	if err := ps.AddPubKey(pid, mustPub(t, pid)); err != nil {
		t.Fatal(err)
	}
	if err := ps.SetProtocols(pid, ClientProtocol); err != nil {
		t.Fatal(err)
	}

	// A client comes and goes: a departure, so the sweep runs.
	k := newKey(t)
	cl, err := NewClientHost(context.Background(), k, c.peers, WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	cl.Send(0, request(k, 1))
	receive(t, r0.Inbound(), 10*time.Second)
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	cid, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the late record to be swept", func() bool {
		return clientStateOf(r0, []peer.ID{pid, cid}) == baseline
	})
}
