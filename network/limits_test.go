package network

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/test"
	"github.com/multiformats/go-multiaddr"
)

// Many clients behind one address (an application server, a script calling
// `bulwark client` in a loop) must get connections; libp2p's defaults would
// refuse the ninth at once and then admit one every five seconds.
func TestResourceManagerAdmitsManyConnectionsFromOneAddress(t *testing.T) {
	mgr, err := newResourceManager()
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	from := multiaddr.StringCast("/ip4/10.1.2.3/tcp/4001")
	var scopes []network.ConnManagementScope
	defer func() {
		for _, s := range scopes {
			s.Done()
		}
	}()
	for i := range 200 {
		s, err := mgr.OpenConnection(network.DirInbound, true, from)
		if err != nil {
			t.Fatalf("connection %d from one address refused: %v", i+1, err)
		}
		scopes = append(scopes, s)
		// Once its handshake names the peer, a connection leaves the small
		// transient scope, as every client's does.
		if err := s.SetPeer(test.RandPeerIDFatal(t)); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	// Still bounded: past the burst, new connections are refused.
	refused := 0
	for range 2 * perIPBurst {
		s, err := mgr.OpenConnection(network.DirInbound, true, from)
		if err != nil {
			refused++
			continue
		}
		scopes = append(scopes, s)
	}
	if refused == 0 {
		t.Fatalf("%d more connections from one address all admitted: no per-address bound", 2*perIPBurst)
	}
}
