package crypto

import (
	stded25519 "crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// zipCase is a signature for the verification rules to agree on.
type zipCase struct {
	name          string
	pub, msg, sig []byte
}

// testScalar is a deterministic scalar for building keys and nonces.
func testScalar(t testing.TB, label string, i int) *edwards25519.Scalar {
	h := sha512.Sum512(fmt.Appendf(nil, "%s/%d", label, i))
	s, err := new(edwards25519.Scalar).SetUniformBytes(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// torsion returns the point of small order an encoding in
// smallOrderEncodings decodes to.
func torsion(t testing.TB, i int) *edwards25519.Point {
	b, err := hex.DecodeString(smallOrderEncodings[i])
	if err != nil {
		t.Fatal(err)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signWith signs msg as the key a·B + ta would, with nonce point
// r·B + tr, written as rBytes if given (a non-canonical encoding of it):
// s = r + k·a with k = H(R || A || M). With torsion in A or R the signature
// holds under the cofactored equation only.
func signWith(a, r *edwards25519.Scalar, ta, tr *edwards25519.Point, rBytes, msg []byte) (pub, sig []byte) {
	A := new(edwards25519.Point).ScalarBaseMult(a)
	if ta != nil {
		A.Add(A, ta)
	}
	R := new(edwards25519.Point).ScalarBaseMult(r)
	if tr != nil {
		R.Add(R, tr)
	}
	if rBytes == nil {
		rBytes = R.Bytes()
	}
	pub = A.Bytes()
	h := sha512.New()
	h.Write(rBytes)
	h.Write(pub)
	h.Write(msg)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	s := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
	return pub, append(append([]byte(nil), rBytes...), s.Bytes()...)
}

// zipCases are honest signatures, signatures valid only under the
// cofactored equation (torsion in the key or the nonce), a nonce written
// non-canonically, a non-canonical s, small-order keys and tampered bytes.
func zipCases(t testing.TB) []zipCase {
	var cases []zipCase
	msg := []byte("a transcript")
	for i := range 3 {
		k := mustKey(t, byte(10+i))
		m := fmt.Appendf(nil, "message %d", i)
		cases = append(cases, zipCase{fmt.Sprintf("honest %d", i), k.PublicKey(), m, k.Sign(m)})
	}
	for i := 1; i < 6; i++ {
		a, r := testScalar(t, "a", i), testScalar(t, "r", i)
		pub, sig := signWith(a, r, nil, torsion(t, i), nil, msg)
		cases = append(cases, zipCase{fmt.Sprintf("torsion %d in R", i), pub, msg, sig})
		pub, sig = signWith(a, r, torsion(t, i), nil, nil, msg)
		cases = append(cases, zipCase{fmt.Sprintf("torsion %d in A", i), pub, msg, sig})
	}
	// R = the identity, written y = p+1 (non-canonical), with r = 0.
	nonCanonical, _ := hex.DecodeString(smallOrderEncodings[7])
	pub, sig := signWith(testScalar(t, "a", 9), new(edwards25519.Scalar), nil, nil, nonCanonical, msg)
	cases = append(cases, zipCase{"non-canonical R", pub, msg, sig})

	k := mustKey(t, 20)
	good := k.Sign(msg)
	highS := append([]byte(nil), good...) // s + L: the same point, not canonical
	var carry uint16
	l := edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne()) // L-1
	lBytes := l.Bytes()
	lBytes[0]++ // L (no carry: L-1 ends in 0xec)
	for i := range 32 {
		carry += uint16(highS[32+i]) + uint16(lBytes[i])
		highS[32+i] = byte(carry)
		carry >>= 8
	}
	cases = append(cases, zipCase{"s + L", k.PublicKey(), msg, highS})
	for i, enc := range smallOrderEncodings {
		weak, _ := hex.DecodeString(enc)
		forged := make([]byte, SignatureSize)
		forged[0] = 1
		cases = append(cases, zipCase{fmt.Sprintf("small-order key %d", i), weak, msg, forged})
	}
	for i, c := range append([]zipCase(nil), cases[:4]...) {
		for _, at := range []int{0, 31, 32, 63} {
			bad := append([]byte(nil), c.sig...)
			bad[at] ^= 1
			cases = append(cases, zipCase{fmt.Sprintf("case %d, byte %d flipped", i, at), c.pub, c.msg, bad})
		}
		cases = append(cases, zipCase{fmt.Sprintf("case %d, other message", i), c.pub, append(c.msg, 0), c.sig})
	}
	return cases
}

func scalarOne() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 1
	s, _ := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
	return s
}

// consensusVerdict is the reference: ed25519consensus, with small-order
// keys refused as CheckPublicKey refuses them.
func consensusVerdict(pub, msg, sig []byte) bool {
	return len(pub) == PublicKeySize && !smallOrder(pub) && ed25519consensus.Verify(stded25519.PublicKey(pub), msg, sig)
}

// The single check accepts exactly what ed25519consensus accepts (less the
// small-order keys), on the edge cases where cofactored and cofactorless
// rules differ; and the cases really do reach those edges: some are valid
// only under the cofactored equation, which Go's crypto/ed25519 refuses.
func TestVerifyMatchesConsensus(t *testing.T) {
	cofactoredOnly := 0
	for _, c := range zipCases(t) {
		want := consensusVerdict(c.pub, c.msg, c.sig)
		if got := (Ed25519Verifier{}).Verify(c.pub, c.msg, c.sig); got != want {
			t.Errorf("%s: Verify = %v, ed25519consensus %v", c.name, got, want)
		}
		if want && !stded25519.Verify(c.pub, c.msg, c.sig) {
			cofactoredOnly++
		}
	}
	if cofactoredOnly < 5 {
		t.Fatalf("only %d cases valid under the cofactored equation alone", cofactoredOnly)
	}
}

// A batch passes exactly when every signature in it would pass alone,
// whatever mix of keys (repeated, distinct, with torsion) it holds.
func TestBatchMatchesSingles(t *testing.T) {
	cases := zipCases(t)
	var valid []Item
	for _, c := range cases {
		if consensusVerdict(c.pub, c.msg, c.sig) {
			valid = append(valid, Item{PublicKey: c.pub, Message: c.msg, Signature: c.sig})
		}
	}
	k := mustKey(t, 30)
	for i := range 8 { // one key signing many: its A terms are gathered
		m := binary.BigEndian.AppendUint32(nil, uint32(i))
		valid = append(valid, Item{PublicKey: k.PublicKey(), Message: m, Signature: k.Sign(m)})
	}
	if !batchVerifyEd25519(valid) {
		t.Fatalf("a batch of %d valid signatures failed", len(valid))
	}
	for _, c := range cases {
		if consensusVerdict(c.pub, c.msg, c.sig) {
			continue
		}
		for _, at := range []int{0, len(valid) / 2, len(valid)} {
			items := append(append(append([]Item(nil), valid[:at]...), Item{PublicKey: c.pub, Message: c.msg, Signature: c.sig}), valid[at:]...)
			if batchVerifyEd25519(items) {
				t.Errorf("%s at %d: a batch holding it passed", c.name, at)
			}
		}
	}
	// Two valid signatures swapped between messages of one key: each
	// equation fails, and the random combination must not cancel them.
	a, b := valid[len(valid)-1], valid[len(valid)-2]
	a.Message, b.Message = b.Message, a.Message
	if batchVerifyEd25519([]Item{a, b}) {
		t.Error("a batch of two swapped signatures passed")
	}
}

// FuzzVerifyMatchesConsensus: on any bytes, the single check agrees with
// ed25519consensus (small-order keys refused), and a batch of the input
// with an honest signature agrees with the two checked alone.
func FuzzVerifyMatchesConsensus(f *testing.F) {
	for _, c := range zipCases(f) {
		f.Add(c.pub, c.msg, c.sig)
	}
	k := mustKey(f, 40)
	honest := Item{PublicKey: k.PublicKey(), Message: []byte("honest"), Signature: k.Sign([]byte("honest"))}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := consensusVerdict(pub, msg, sig) && len(sig) == SignatureSize
		if got := (Ed25519Verifier{}).Verify(pub, msg, sig); got != want {
			t.Fatalf("Verify(%x, %x, %x) = %v, ed25519consensus %v", pub, msg, sig, got, want)
		}
		if got := batchVerifyEd25519([]Item{honest, {PublicKey: pub, Message: msg, Signature: sig}}); got != want {
			t.Fatalf("batch with (%x, %x, %x) = %v, want %v", pub, msg, sig, got, want)
		}
	})
}
