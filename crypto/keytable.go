package crypto

import "filippo.io/edwards25519"

// keyTable holds multiples of one key's point A for a fixed-base comb:
// row m holds 1·256^m·A through 8·256^m·A. Multiplying by a scalar then
// costs 64 additions and 4 doublings instead of the 256 doublings and
// about 50 additions of a variable-base multiplication: a single check of
// a signature by a key with a table costs about 60% of one without. A table
// is 40 KB, so only keys that sign often get one (see keyEntry).
type keyTable [32][8]edwards25519.Point

// newKeyTable computes the table of a.
func newKeyTable(a *edwards25519.Point) *keyTable {
	t := new(keyTable)
	base := new(edwards25519.Point).Set(a)
	for m := range t {
		row := &t[m]
		row[0].Set(base)
		for j := 1; j < len(row); j++ {
			row[j].Add(&row[j-1], base)
		}
		base.Set(&row[7]) // 8·256^m·A; five doublings make 256^(m+1)·A
		for range 5 {
			base.Add(base, base)
		}
	}
	return t
}

// mul sets dst to [k]A and returns it. Variable time: only for public
// scalars (a signature check's k).
func (t *keyTable) mul(dst *edwards25519.Point, k *edwards25519.Scalar) *edwards25519.Point {
	digits := signedRadix16(k.Bytes())
	dst.Set(edwards25519.NewIdentityPoint())
	// k = Σ e_i 16^i = 16·Σ e_{2m+1} 256^m + Σ e_{2m} 256^m.
	for i := 1; i < len(digits); i += 2 {
		t.addDigit(dst, i/2, digits[i])
	}
	for range 4 {
		dst.Add(dst, dst)
	}
	for i := 0; i < len(digits); i += 2 {
		t.addDigit(dst, i/2, digits[i])
	}
	return dst
}

// addDigit adds e·256^m·A to v, for e in [-8, 8].
func (t *keyTable) addDigit(v *edwards25519.Point, m int, e int8) {
	switch {
	case e > 0:
		v.Add(v, &t[m][e-1])
	case e < 0:
		v.Subtract(v, &t[m][-e-1])
	}
}

// signedRadix16 writes a little-endian scalar below 2^255 (every reduced
// scalar is, being below the group order) as 64 digits e_i in [-8, 8) with
// s = Σ e_i 16^i.
func signedRadix16(s []byte) [64]int8 {
	var digits [64]int8
	for i := range 32 {
		digits[2*i] = int8(s[i] & 15)
		digits[2*i+1] = int8(s[i] >> 4)
	}
	for i := range 63 {
		carry := (digits[i] + 8) >> 4
		digits[i] -= carry << 4
		digits[i+1] += carry
	}
	return digits
}
