package crypto

import (
	"crypto/rand"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// The verification equations. Both are ZIP-215's (the rules of
// ed25519consensus, which the tests hold this code to): s must be canonical
// (below the group order), A and R may be any encoding that decodes to a
// point, k = SHA-512(R || A || M) mod L, and the check is cofactored.
//
//	one signature:  [8]([s]B - [k]A - R) = 0
//	a batch:        [8]( -[Σ z_i s_i]B + Σ [z_i]R_i + Σ_j [Σ_{i signed by j} z_i k_i]A_j ) = 0
//
// with z_i random 128-bit scalars. The batch equation is the sum of z_i
// times each signature's equation, its A terms gathered by key: a batch of
// valid signatures always passes, and one with an invalid signature passes
// with probability about 2^-128 (the z_i are drawn after the signatures are
// fixed). Because the single check is cofactored too, the two agree on
// every signature — a cofactorless single check would refuse some (R with a
// small-order component) that every batch accepts, letting a client craft a
// request that one replica accepts and another refuses. Keys of small order
// are refused outright (CheckPublicKey): under the cofactored equation
// anyone can sign for them.
//
// Gathering the A terms is what makes the batch cheap here: the replicas'
// keys and a few client hosts' keys sign almost everything, so a batch of n
// signatures costs a multi-scalar multiplication of about n+2 points
// instead of ed25519consensus's 2n+1, and the decoded keys are cached.

// maxCheckedKeys bounds the cache of decoded keys; past it the cache starts
// over, so fresh keys cannot grow it (about 200 bytes a key).
const maxCheckedKeys = 16384

// checkedKeys caches the keys found sound, decoded: decoding a point and
// multiplying it by the cofactor costs about 6 µs, a sixth of a batched
// verification, while the replicas' and the active clients' keys repeat on
// every message. The points are never modified once stored.
var checkedKeys = struct {
	sync.Mutex
	points map[[PublicKeySize]byte]*edwards25519.Point
}{points: make(map[[PublicKeySize]byte]*edwards25519.Point)}

// keyPoint returns the decoded point of a sound key, or ErrWeakKey. The
// point is shared: callers must not modify it.
func keyPoint(pub PublicKey) (*edwards25519.Point, error) {
	if len(pub) != PublicKeySize {
		return nil, ErrWeakKey
	}
	k := [PublicKeySize]byte(pub)
	checkedKeys.Lock()
	p, ok := checkedKeys.points[k]
	checkedKeys.Unlock()
	if ok {
		return p, nil
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, ErrWeakKey
	}
	checkedKeys.Lock()
	if len(checkedKeys.points) >= maxCheckedKeys {
		clear(checkedKeys.points)
	}
	checkedKeys.points[k] = p
	checkedKeys.Unlock()
	return p, nil
}

// CheckPublicKey reports ErrWeakKey for a key that does not decode to a
// point (under the same lenient decoding the verification uses) or whose
// point times the cofactor is the identity.
func CheckPublicKey(pub PublicKey) error {
	_, err := keyPoint(pub)
	return err
}

// parsedSignature is a signature's parts as the equations use them.
type parsedSignature struct {
	a    *edwards25519.Point // the signer's key (shared, read-only)
	r    edwards25519.Point
	s, k edwards25519.Scalar
}

// parse decodes a signature of msg by pub into p; false if the key is weak,
// the lengths are wrong, R is not a point or s is not canonical.
func (p *parsedSignature) parse(pub PublicKey, msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	a, err := keyPoint(pub)
	if err != nil {
		return false
	}
	p.a = a
	if _, err := p.r.SetBytes(sig[:32]); err != nil {
		return false
	}
	if _, err := p.s.SetCanonicalBytes(sig[32:]); err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	var digest [sha512.Size]byte
	if _, err := p.k.SetUniformBytes(h.Sum(digest[:0])); err != nil {
		return false
	}
	return true
}

// verifyEd25519 checks one signature: [8]([s]B - [k]A - R) = 0.
func verifyEd25519(pub PublicKey, msg, sig []byte) bool {
	var p parsedSignature
	if !p.parse(pub, msg, sig) {
		return false
	}
	minusA := new(edwards25519.Point).Negate(p.a)
	check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(&p.k, minusA, &p.s)
	check.Subtract(check, &p.r)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}

// batchVerifyEd25519 reports whether every item's signature is valid,
// checked at once (the batch equation above). Any malformed item fails the
// batch.
func batchVerifyEd25519(items []Item) bool {
	n := len(items)
	if n == 0 {
		return true
	}
	sigs := make([]parsedSignature, n)
	random := make([]byte, 16*n)
	if _, err := rand.Read(random); err != nil {
		return false
	}
	// scalars and points: B first, then each R_i, then each distinct key.
	scalars := make([]*edwards25519.Scalar, 1, 2+n+n)
	points := make([]*edwards25519.Point, 1, 2+n+n)
	zs := make([]edwards25519.Scalar, n+1)
	keyCoeffs := make([]edwards25519.Scalar, n)
	keyIndex := make(map[*edwards25519.Point]int, 4)
	bCoeff := &zs[n]
	scalars[0], points[0] = bCoeff, edwards25519.NewGeneratorPoint()
	var wide [32]byte
	for i := range items {
		p := &sigs[i]
		if !p.parse(items[i].PublicKey, items[i].Message, items[i].Signature) {
			return false
		}
		copy(wide[:16], random[16*i:16*i+16])
		z := &zs[i]
		if _, err := z.SetCanonicalBytes(wide[:]); err != nil {
			return false
		}
		bCoeff.MultiplyAdd(z, &p.s, bCoeff)
		scalars, points = append(scalars, z), append(points, &p.r)
		j, seen := keyIndex[p.a]
		if !seen {
			j = len(keyIndex)
			keyIndex[p.a] = j
		}
		keyCoeffs[j].MultiplyAdd(z, &p.k, &keyCoeffs[j])
	}
	keys := make([]*edwards25519.Point, len(keyIndex))
	for a, j := range keyIndex {
		keys[j] = a
	}
	for j, a := range keys {
		scalars, points = append(scalars, &keyCoeffs[j]), append(points, a)
	}
	bCoeff.Negate(bCoeff)
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}
