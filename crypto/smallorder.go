package crypto

import (
	"errors"
	"sync"

	"filippo.io/edwards25519"
)

// ErrWeakKey is a public key that is not a point of the curve or is of small
// order. Under the cofactored verification rules (see Ed25519Verifier) a
// key of small order verifies a signature any party can make, so no such
// key can stand for a replica or a client.
var ErrWeakKey = errors.New("crypto: public key is not a point of the curve or is of small order")

// maxCheckedKeys bounds the cache of keys found sound; past it the cache
// starts over, so fresh keys cannot grow it.
const maxCheckedKeys = 16384

// checkedKeys caches the keys found sound: decoding a point and multiplying
// it by the cofactor costs about 6 µs, a sixth of a batched verification,
// while the replicas' and the active clients' keys repeat on every message.
var checkedKeys = struct {
	sync.Mutex
	ok map[[PublicKeySize]byte]struct{}
}{ok: make(map[[PublicKeySize]byte]struct{})}

// CheckPublicKey reports ErrWeakKey for a key that does not decode to a
// point (under the same lenient decoding the verification uses) or whose
// point times the cofactor is the identity.
func CheckPublicKey(pub PublicKey) error {
	if len(pub) != PublicKeySize {
		return ErrWeakKey
	}
	k := [PublicKeySize]byte(pub)
	checkedKeys.Lock()
	_, ok := checkedKeys.ok[k]
	checkedKeys.Unlock()
	if ok {
		return nil
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return ErrWeakKey
	}
	checkedKeys.Lock()
	if len(checkedKeys.ok) >= maxCheckedKeys {
		clear(checkedKeys.ok)
	}
	checkedKeys.ok[k] = struct{}{}
	checkedKeys.Unlock()
	return nil
}
