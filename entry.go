package bulwark

import (
	"fmt"
	"net"
	"strconv"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

// NewReplicaEntry is replica id's entry in a cluster file: its public key,
// the libp2p peer id derived from that key, and two addresses on host
// (an IPv4 or IPv6 address, or a DNS name), TCP and QUIC, both on port.
// Whoever assembles the cluster file needs only each organisation's public
// key and where its replica listens; the private key never leaves it.
func NewReplicaEntry(id uint32, pub crypto.PublicKey, host string, port int) (ReplicaEntry, error) {
	if port <= 0 || port > 65535 {
		return ReplicaEntry{}, fmt.Errorf("replica %d: port %d is not between 1 and 65535", id, port)
	}
	pid, err := network.PeerIDOf(pub)
	if err != nil {
		return ReplicaEntry{}, fmt.Errorf("replica %d: %w", id, err)
	}
	var proto string
	switch ip := net.ParseIP(host); {
	case ip != nil && ip.To4() != nil:
		proto = "ip4"
	case ip != nil:
		proto = "ip6"
	case host != "":
		proto = "dns"
	default:
		return ReplicaEntry{}, fmt.Errorf("replica %d: empty host", id)
	}
	p := strconv.Itoa(port)
	return ReplicaEntry{
		ID: id, PublicKey: pub.Hex(), PeerID: pid.String(),
		Addrs: []string{"/" + proto + "/" + host + "/tcp/" + p, "/" + proto + "/" + host + "/udp/" + p + "/quic-v1"},
	}, nil
}
