package crypto

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/ed25519"
)

const (
	// PublicKeySize is the size in bytes of an Ed25519 public key.
	PublicKeySize = ed25519.PublicKeySize
	// SignatureSize is the size in bytes of an Ed25519 signature.
	SignatureSize = ed25519.SignatureSize
	// seedSize is the size of an RFC 8032 private key seed.
	seedSize = ed25519.SeedSize
)

// PublicKey is a raw Ed25519 public key (PublicKeySize bytes). It is a plain
// byte slice so it can travel in wire messages and configuration unchanged.
type PublicKey []byte

// Hex returns the key as lowercase hexadecimal.
func (p PublicKey) Hex() string { return hex.EncodeToString(p) }

// ParsePublicKeyHex parses a hex-encoded public key, as written in cluster
// configuration, and checks its length and that it is a sound point
// (CheckPublicKey), so bad configuration fails at load time rather than as
// mysteriously failing, or forgeable, signatures later.
func ParsePublicKeyHex(s string) (PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("crypto: parse public key %q: %w", s, err)
	}
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("crypto: parse public key %q: got %d bytes, want %d", s, len(b), PublicKeySize)
	}
	if err := CheckPublicKey(b); err != nil {
		return nil, fmt.Errorf("crypto: parse public key %q: %w", s, err)
	}
	return PublicKey(b), nil
}

// Signer signs canonical byte strings (see Transcript).
// Implementations must be safe for concurrent use.
type Signer interface {
	PublicKey() PublicKey
	Sign(msg []byte) []byte
}

// Verifier checks a signature made by the holder of pub. Implementations must
// be safe for concurrent use and must never panic on inputs of the wrong
// length (they return false): the inputs come straight off the network.
type Verifier interface {
	Verify(pub PublicKey, msg, sig []byte) bool
}

// PrivateKey is an Ed25519 signing key. It is immutable after creation, so
// one PrivateKey may sign from many goroutines at once.
type PrivateKey struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

var _ Signer = (*PrivateKey)(nil)

// GenerateKey creates a new key from rand, or from crypto/rand when rand is nil.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand) // circl substitutes crypto/rand for nil
	if err != nil {
		return nil, fmt.Errorf("crypto: generate key: %w", err)
	}
	return &PrivateKey{priv: priv, pub: PublicKey(pub)}, nil
}

// NewPrivateKeyFromSeed derives a key from a 32-byte RFC 8032 seed. It
// returns an error, rather than panicking as circl does, on a wrong length.
func NewPrivateKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != seedSize {
		return nil, fmt.Errorf("crypto: private key seed is %d bytes, want %d", len(seed), seedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := make(PublicKey, PublicKeySize)
	copy(pub, priv[seedSize:])
	return &PrivateKey{priv: priv, pub: pub}, nil
}

// PublicKey returns a copy of the public key, so callers cannot corrupt the
// key held here by writing to the slice.
func (k *PrivateKey) PublicKey() PublicKey {
	return append(PublicKey(nil), k.pub...)
}

// Sign returns the Ed25519 signature of msg. Ed25519 signing is
// deterministic: the same key and message always give the same signature.
func (k *PrivateKey) Sign(msg []byte) []byte {
	signs.Add(1)
	return ed25519.Sign(k.priv, msg)
}

// Seed returns a copy of the 32-byte seed from which the key can be rebuilt
// with NewPrivateKeyFromSeed. Treat it as the secret it is.
func (k *PrivateKey) Seed() []byte {
	return append([]byte(nil), k.priv.Seed()...)
}

// Ed25519Verifier verifies pure Ed25519 signatures by the ZIP-215 rules
// (those of ed25519consensus; see ed25519verify.go): the cofactored
// equation [8][s]B = [8]R + [8][k]A, with s canonical and A and R any valid
// encodings. Those are the rules under which a batch check (VerifyBatch)
// and a check one by one always agree, so replicas that verify one
// signature in different ways still accept exactly the same signatures:
// otherwise a client could craft a signature (R with a small-order
// component) that the primary's batch accepts and a backup's single check
// refuses, and stall a correct primary. Keys of small order, for which
// anyone could sign, are refused (CheckPublicKey). Every signature a correct
// signer makes (circl's RFC 8032 signing) verifies under them. The zero
// value is ready to use; it keeps only a process-wide cache of decoded keys,
// and is safe for concurrent use.
type Ed25519Verifier struct{}

var _ Verifier = Ed25519Verifier{}

// Verify reports whether sig is a valid signature of msg by pub. Wrong-length
// keys or signatures give false.
func (Ed25519Verifier) Verify(pub PublicKey, msg, sig []byte) bool {
	if len(pub) != PublicKeySize || len(sig) != SignatureSize {
		return false
	}
	verifies.Add(1)
	return verifyEd25519(pub, msg, sig)
}
