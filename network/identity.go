package network

import (
	"fmt"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bulwark-bft/bulwark/crypto"
)

// libp2pKey turns a Bulwark signing key into the libp2p identity key, so the
// peer id other nodes authenticate is derived from the key the cluster file
// lists. libp2p wants the 64-byte seed||public form.
func libp2pKey(k *crypto.PrivateKey) (p2pcrypto.PrivKey, error) {
	if k == nil {
		return nil, fmt.Errorf("network: nil private key")
	}
	raw := append(k.Seed(), k.PublicKey()...)
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("network: convert key to libp2p: %w", err)
	}
	return sk, nil
}

// PeerIDOf returns the libp2p peer id of the holder of an ed25519 public key,
// as a cluster file lists it next to the replica's address.
func PeerIDOf(pub crypto.PublicKey) (peer.ID, error) {
	if len(pub) != crypto.PublicKeySize {
		return "", fmt.Errorf("network: public key is %d bytes, want %d", len(pub), crypto.PublicKeySize)
	}
	pk, err := p2pcrypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("network: parse public key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("network: peer id from public key: %w", err)
	}
	return id, nil
}

// ed25519KeyOf extracts the ed25519 public key embedded in a peer id. Small
// keys (ed25519 among them) are inlined in the id, so a client's key needs no
// lookup; any other key type is refused, because Bulwark clients sign
// requests with ed25519 and the reply route is keyed by that key.
func ed25519KeyOf(id peer.ID) ([]byte, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("network: public key of peer %s: %w", id, err)
	}
	if pk.Type() != p2pcrypto.Ed25519 {
		return nil, fmt.Errorf("network: peer %s has a %v key, want Ed25519", id, pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, fmt.Errorf("network: raw public key of peer %s: %w", id, err)
	}
	return raw, nil
}
