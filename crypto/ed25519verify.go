package crypto

import (
	"crypto/rand"
	"crypto/sha512"
	"sync"
	"sync/atomic"

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

// maxKeyTables bounds the keys given a comb table (40 KB each, 2.5 MB in
// all), and tableAfter is how many checks a key needs first: a table costs
// about two single checks to build and saves about 40% of each check after,
// so the replicas' keys and the busiest clients' get one, and a key used a
// few times never does.
const (
	maxKeyTables = 64
	tableAfter   = 32
)

// keyEntry is a sound key, decoded, with its use count and, once it has
// been used tableAfter times, its comb table.
type keyEntry struct {
	point *edwards25519.Point // never modified once stored
	uses  atomic.Uint32
	table atomic.Pointer[combTable]
}

// checkedKeys caches the keys found sound: decoding a point and multiplying
// it by the cofactor costs about 6 µs, a sixth of a batched verification,
// while the replicas' and the active clients' keys repeat on every message.
// tables counts the entries given a table since the cache last started
// over.
var checkedKeys = struct {
	sync.Mutex
	entries map[[PublicKeySize]byte]*keyEntry
	tables  int
}{entries: make(map[[PublicKeySize]byte]*keyEntry)}

// keyOf returns the cache entry of a sound key, or ErrWeakKey.
func keyOf(pub PublicKey) (*keyEntry, error) {
	if len(pub) != PublicKeySize {
		return nil, ErrWeakKey
	}
	k := [PublicKeySize]byte(pub)
	checkedKeys.Lock()
	e, ok := checkedKeys.entries[k]
	checkedKeys.Unlock()
	if ok {
		return e, nil
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, ErrWeakKey
	}
	e = &keyEntry{point: p}
	checkedKeys.Lock()
	if len(checkedKeys.entries) >= maxCheckedKeys {
		clear(checkedKeys.entries)
		checkedKeys.tables = 0
	}
	checkedKeys.entries[k] = e
	checkedKeys.Unlock()
	return e, nil
}

// tableOf returns the key's comb table, building it on the check that
// makes the key's tableAfter'th use while fewer than maxKeyTables keys
// have one; nil otherwise.
func (e *keyEntry) tableOf() *combTable {
	if t := e.table.Load(); t != nil {
		return t
	}
	if e.uses.Add(1) != tableAfter {
		return nil
	}
	checkedKeys.Lock()
	grant := checkedKeys.tables < maxKeyTables
	if grant {
		checkedKeys.tables++
	}
	checkedKeys.Unlock()
	if !grant {
		return nil
	}
	t := newCombTable(e.point, keyWindow)
	e.table.Store(t)
	return t
}

// CheckPublicKey reports ErrWeakKey for a key that does not decode to a
// point (under the same lenient decoding the verification uses) or whose
// point times the cofactor is the identity.
func CheckPublicKey(pub PublicKey) error {
	_, err := keyOf(pub)
	return err
}

// parsedSignature is a signature's parts as the equations use them.
type parsedSignature struct {
	key  *keyEntry // the signer's (shared)
	r    edwards25519.Point
	s, k edwards25519.Scalar
}

// parse decodes a signature of msg by pub into p; false if the key is weak,
// the lengths are wrong, R is not a point or s is not canonical.
func (p *parsedSignature) parse(pub PublicKey, msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	key, err := keyOf(pub)
	if err != nil {
		return false
	}
	p.key = key
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
	var check edwards25519.Point
	if t := p.key.tableOf(); t != nil {
		var kA edwards25519.Point
		baseTable().mul(&check, &p.s)
		check.Subtract(&check, t.mul(&kA, &p.k))
	} else {
		minusA := new(edwards25519.Point).Negate(p.key.point)
		check.VarTimeDoubleScalarBaseMult(&p.k, minusA, &p.s)
	}
	check.Subtract(&check, &p.r)
	return check.MultByCofactor(&check).Equal(edwards25519.NewIdentityPoint()) == 1
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
		j, seen := keyIndex[p.key.point]
		if !seen {
			j = len(keyIndex)
			keyIndex[p.key.point] = j
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
