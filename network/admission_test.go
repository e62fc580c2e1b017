package network

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func request(key *crypto.PrivateKey, ts uint64) *wire.Message {
	return &wire.Message{Content: &wire.Message_Request{Request: &wire.Request{ClientKey: key.PublicKey(), Timestamp: ts, Operation: []byte("op")}}}
}

// With Config.Clients set, an admitted client is served; any other client
// is refused at the connection (no stream, no request, no status query),
// counted; replicas are unaffected.
func TestOnlyAdmittedClientsConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		quic bool
	}{{"tcp", false}, {"quic", true}} {
		t.Run(tc.name, func(t *testing.T) {
			admitted, outsider := newKey(t), newKey(t)
			c := newCluster(t, 2, tc.quic, func(cfg *Config) { cfg.Clients = []crypto.PublicKey{admitted.PublicKey()} })
			r0 := c.hosts[0]

			cl, err := NewClientHost(context.Background(), admitted, c.peers, WithLogger(quietLog))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			cl.Send(0, request(admitted, 1))
			if in := receive(t, r0.Inbound(), 10*time.Second); in.From != pbft.FromClient(admitted.PublicKey()) {
				t.Fatalf("got %+v", in)
			}

			// The outsider, through the transport a client uses: its
			// request and its status query never arrive.
			out, err := NewClientHost(context.Background(), outsider, c.peers, WithLogger(quietLog))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			out.Send(0, request(outsider, 1))
			out.Send(0, status(0, 0))
			// And with its own hands: it cannot open a stream at all.
			sk, err := libp2pKey(outsider)
			if err != nil {
				t.Fatal(err)
			}
			raw := rawHostWithKey(t, sk)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			raw.Peerstore().AddAddrs(c.peers[0].PeerID, c.peers[0].Addrs, time.Hour)
			if s, err := raw.NewStream(ctx, c.peers[0].PeerID, ClientProtocol); err == nil {
				_ = s.Reset()
				t.Fatal("a client outside Config.Clients opened a stream")
			}
			eventually(t, 5*time.Second, "refusals counted", func() bool { return r0.Stats().Dropped[DropClientNotAdmitted] >= 2 })
			// Refused before it became a connection, it left nothing behind.
			if protos, _ := r0.host.Peerstore().GetProtocols(raw.ID()); len(protos) > 0 || slices.Contains(r0.host.Peerstore().PeersWithKeys(), raw.ID()) {
				t.Fatal("the refused client is in the replica's peerstore")
			}
			if s := out.Stats(); len(s.Connected) != 0 {
				t.Fatalf("outsider connected to %v", s.Connected)
			}

			// The replicas still talk, and the admitted client is still served.
			c.hosts[1].Send(0, status(1, 9))
			cl.Send(0, request(admitted, 2))
			got := map[pbft.From]bool{}
			for range 2 {
				in := receive(t, r0.Inbound(), 10*time.Second)
				got[in.From] = true
			}
			if !got[pbft.FromReplica(1)] || !got[pbft.FromClient(admitted.PublicKey())] || len(got) != 2 {
				t.Fatalf("replica 0 heard from %v", got)
			}
			select {
			case in := <-r0.Inbound():
				t.Fatalf("unexpected delivery %+v", in)
			case <-time.After(200 * time.Millisecond):
			}
			if s := r0.Stats(); s.ClientStreams != 1 {
				t.Fatalf("%d client streams, want the admitted client's only", s.ClientStreams)
			}
		})
	}
}

func TestAdmission(t *testing.T) {
	k := newKey(t)
	pid, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	other, err := PeerIDOf(newKey(t).PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	open, err := newAdmission(nil)
	if err != nil || !open.admits(pid) || !open.admits(other) {
		t.Fatalf("nil Clients must admit everyone: %v", err)
	}
	closed, err := newAdmission([]crypto.PublicKey{})
	if err != nil || closed.admits(pid) {
		t.Fatalf("an empty Clients list must admit no one: %v", err)
	}
	one, err := newAdmission([]crypto.PublicKey{k.PublicKey()})
	if err != nil || !one.admits(pid) || one.admits(other) || one.admits(peer.ID("")) {
		t.Fatalf("a one-key list must admit that key only: %v", err)
	}
	if _, err := newAdmission([]crypto.PublicKey{k.PublicKey(), {1, 2, 3}}); err == nil || !strings.Contains(err.Error(), "Config.Clients[1]") {
		t.Fatalf("a bad key: %v, want an error naming Config.Clients[1]", err)
	}
}
