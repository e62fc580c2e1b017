package crypto

import (
	"testing"

	"filippo.io/edwards25519"
)

// resetKeyCache empties the process-wide cache of decoded keys and tables.
func resetKeyCache() {
	checkedKeys.Lock()
	clear(checkedKeys.entries)
	checkedKeys.tables = 0
	checkedKeys.Unlock()
}

// A comb table multiplies as the library's variable-base multiplication
// does, for points with and without a small-order component and for
// scalars at the digits' edges.
func TestKeyTableMatchesScalarMult(t *testing.T) {
	var edge []*edwards25519.Scalar
	edge = append(edge, edwards25519.NewScalar(), scalarOne(),
		new(edwards25519.Scalar).Subtract(edwards25519.NewScalar(), scalarOne())) // 0, 1, L-1
	eights := make([]byte, 32) // every nibble 8: every signed digit at its edge
	for i := range eights {
		eights[i] = 0x88
	}
	eights[31] = 0x08
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(eights)
	if err != nil {
		t.Fatal(err)
	}
	edge = append(edge, s)
	for i := range 16 {
		edge = append(edge, testScalar(t, "k", i))
	}
	for i := range 4 {
		a := new(edwards25519.Point).ScalarBaseMult(testScalar(t, "point", i))
		if i > 0 {
			a.Add(a, torsion(t, i))
		}
		for _, w := range []uint{keyWindow, 5, 6, 7, baseWindow} {
			table := newCombTable(a, w)
			for j, k := range edge {
				var got edwards25519.Point
				want := new(edwards25519.Point).ScalarMult(k, a)
				if table.mul(&got, k).Equal(want) != 1 {
					t.Errorf("point %d, window %d, scalar %d: the table's product differs", i, w, j)
				}
			}
		}
	}
}

// Checks by a key busy enough for a table give ed25519consensus's verdict
// too, on every edge case; a key that signs often gets its table, and no
// more than maxKeyTables keys do.
func TestHotKeyChecksMatchConsensus(t *testing.T) {
	resetKeyCache()
	defer resetKeyCache()
	cases := zipCases(t)
	for round := range tableAfter + 2 {
		for _, c := range cases {
			want := consensusVerdict(c.pub, c.msg, c.sig)
			if got := (Ed25519Verifier{}).Verify(c.pub, c.msg, c.sig); got != want {
				t.Fatalf("%s, check %d: Verify = %v, ed25519consensus %v", c.name, round+1, got, want)
			}
		}
	}
	e, err := keyOf(cases[0].pub)
	if err != nil || e.table.Load() == nil {
		t.Fatalf("a key checked %d times has no table (%v)", tableAfter+2, err)
	}
	for i := range maxKeyTables + 8 {
		k := mustKey(t, byte(100+i))
		msg := []byte("busy")
		sig := k.Sign(msg)
		for range tableAfter {
			if !(Ed25519Verifier{}).Verify(k.PublicKey(), msg, sig) {
				t.Fatal("an honest signature was refused")
			}
		}
	}
	checkedKeys.Lock()
	tables := 0
	for _, e := range checkedKeys.entries {
		if e.table.Load() != nil {
			tables++
		}
	}
	checkedKeys.Unlock()
	if tables != maxKeyTables {
		t.Fatalf("%d keys hold a table, want the bound %d", tables, maxKeyTables)
	}
}
