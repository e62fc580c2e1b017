// Package cryptotest provides a cheap, deterministic signature scheme for
// tests and the seeded simulator, where thousands of runs would spend most
// of their time in Ed25519 otherwise.
//
// It is NOT a real signature scheme: verification needs the signer's
// secret. It is sound for tests only because the Scheme, acting as the
// Verifier, holds every secret, while test adversaries are handed only their
// own signers and never an honest one's, so they cannot forge.
package cryptotest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/bulwark-bft/bulwark/crypto"
)

// tagSize is the size of an HMAC-SHA256 tag.
const tagSize = sha256.Size

// Scheme is a keyed-hash (HMAC-SHA256) signature scheme. Each signer has a
// secret; the Scheme knows them all and verifies with them. Keys are derived
// from the seed and the signer's name, so the same seed and name always give
// the same key, and one run's signatures reproduce exactly from its seed.
//
// Signatures are crypto.SignatureSize (64) bytes: the 32-byte HMAC tag
// followed by 32 zero bytes. The padding makes them the same size as Ed25519
// signatures, so code that checks signature lengths, or sizes messages,
// behaves the same under both schemes. Verify requires the padding to be
// zero, so each message has exactly one valid signature per signer, as with
// Ed25519.
//
// A Scheme is safe for concurrent use.
type Scheme struct {
	seed uint64

	mu      sync.RWMutex
	secrets map[[crypto.PublicKeySize]byte]*[tagSize]byte
}

var _ crypto.Verifier = (*Scheme)(nil)

// NewScheme returns a scheme whose keys are all derived from seed.
func NewScheme(seed uint64) *Scheme {
	return &Scheme{
		seed:    seed,
		secrets: make(map[[crypto.PublicKeySize]byte]*[tagSize]byte),
	}
}

// derive returns SHA-256(label | seed as 8 big-endian bytes | name). The
// seed is fixed-width, so distinct (label, seed, name) inputs never
// concatenate to the same bytes.
func (s *Scheme) derive(label, name string) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(binary.BigEndian.AppendUint64(nil, s.seed))
	h.Write([]byte(name))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// NewSigner returns the signer called name. Its public key is
// SHA-256("pub" | seed | name) and its secret SHA-256("sec" | seed | name),
// the seed as 8 big-endian bytes. Calling it again with the same name gives
// a signer with the same key.
func (s *Scheme) NewSigner(name string) crypto.Signer {
	pub := s.derive("pub", name)
	secret := s.derive("sec", name)
	s.mu.Lock()
	s.secrets[pub] = &secret
	s.mu.Unlock()
	return &signer{pub: pub, secret: secret}
}

// Verify reports whether sig is name's signature of msg, where pub is the
// key of a signer this Scheme created. Unknown keys and wrong lengths give
// false.
func (s *Scheme) Verify(pub crypto.PublicKey, msg, sig []byte) bool {
	if len(pub) != crypto.PublicKeySize || len(sig) != crypto.SignatureSize {
		return false
	}
	s.mu.RLock()
	secret, ok := s.secrets[[crypto.PublicKeySize]byte(pub)]
	s.mu.RUnlock()
	if !ok {
		return false
	}
	for _, b := range sig[tagSize:] {
		if b != 0 {
			return false
		}
	}
	return hmac.Equal(sig[:tagSize], mac(secret[:], msg))
}

func mac(secret, msg []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return m.Sum(make([]byte, 0, crypto.SignatureSize))
}

// signer holds one secret. It is immutable, hence safe for concurrent use.
type signer struct {
	pub    [crypto.PublicKeySize]byte
	secret [tagSize]byte
}

func (k *signer) PublicKey() crypto.PublicKey {
	return append(crypto.PublicKey(nil), k.pub[:]...)
}

// Sign returns the HMAC tag padded with zeros to crypto.SignatureSize.
func (k *signer) Sign(msg []byte) []byte {
	sig := mac(k.secret[:], msg)
	return sig[:crypto.SignatureSize] // capacity was reserved; the tail is zero
}
