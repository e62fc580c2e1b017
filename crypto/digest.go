package crypto

import (
	"crypto/sha256"
	"encoding/hex"
)

// DigestSize is the size in bytes of a Digest (SHA-256 output).
const DigestSize = sha256.Size

// Digest is a SHA-256 hash. It is a fixed-size array so it can be compared
// with == and used as a map key (request and batch deduplication rely on it).
type Digest [DigestSize]byte

// Hash returns SHA-256 over the concatenation of parts.
//
// The parts are not length-prefixed, so Hash("a", "bc") == Hash("ab", "c").
// Hash is meant for hashing one already-canonical encoding that happens to be
// held in pieces; to hash structured data unambiguously, build a Transcript
// and hash its Sum.
func Hash(parts ...[]byte) Digest {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p) // hash.Hash.Write never returns an error
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// Hex returns the digest as 64 lowercase hexadecimal characters.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// String returns the full hex form. It is deliberately not abbreviated:
// log lines are used to match digests across replicas, and a shortened form
// could collide or mislead.
func (d Digest) String() string { return d.Hex() }
