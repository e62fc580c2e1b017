package crypto

import (
	"sync"

	"filippo.io/edwards25519"
)

// combTable holds multiples of one point P for a fixed-base comb of window
// w: row m holds 1·2^(2wm)·P through 2^(w-1)·2^(2wm)·P. A scalar written
// in signed digits of w bits is then multiplied in about 256/w additions and
// w doublings, where a variable-base multiplication takes 256 doublings and
// about 50 additions. Variable time: only for public scalars.
type combTable struct {
	w    uint
	rows [][]edwards25519.Point
}

// keyWindow is the window of the tables of keys: 40 KB a table, 64
// additions a multiplication. baseWindow is that of the base point's one
// table: 350 KB, 33 additions, against about 64 for the library's
// constant-time ScalarBaseMult (which a check does not need).
const (
	keyWindow  = 4
	baseWindow = 8
)

// newCombTable computes the table of p for window w (4 to 8: a scalar then
// takes at most 64 digits, each fitting an int8).
func newCombTable(p *edwards25519.Point, w uint) *combTable {
	digits := digitCount(w)
	t := &combTable{w: w, rows: make([][]edwards25519.Point, (digits+1)/2)}
	base := new(edwards25519.Point).Set(p)
	for m := range t.rows {
		row := make([]edwards25519.Point, 1<<(w-1))
		row[0].Set(base)
		for j := 1; j < len(row); j++ {
			row[j].Add(&row[j-1], base)
		}
		t.rows[m] = row
		base.Set(&row[len(row)-1]) // 2^(w-1)·2^(2wm)·P; w+1 doublings make 2^(2w(m+1))·P
		for range w + 1 {
			base.Add(base, base)
		}
	}
	return t
}

// mul sets dst to [k]P and returns it.
func (t *combTable) mul(dst *edwards25519.Point, k *edwards25519.Scalar) *edwards25519.Point {
	var buf [64]int8
	digits := signedDigits(&buf, k.Bytes(), t.w)
	dst.Set(edwards25519.NewIdentityPoint())
	// k = Σ e_i 2^(wi) = 2^w·Σ e_{2m+1} 2^(2wm) + Σ e_{2m} 2^(2wm).
	for i := 1; i < len(digits); i += 2 {
		t.addDigit(dst, i/2, digits[i])
	}
	for range t.w {
		dst.Add(dst, dst)
	}
	for i := 0; i < len(digits); i += 2 {
		t.addDigit(dst, i/2, digits[i])
	}
	return dst
}

// addDigit adds e·2^(2wm)·P to v, for |e| at most 2^(w-1).
func (t *combTable) addDigit(v *edwards25519.Point, m int, e int8) {
	switch {
	case e > 0:
		v.Add(v, &t.rows[m][e-1])
	case e < 0:
		v.Subtract(v, &t.rows[m][-int(e)-1])
	}
}

// digitCount is how many digits of w bits a scalar takes: ceil(256/w).
func digitCount(w uint) int { return int((256 + w - 1) / w) }

// signedDigits writes a little-endian scalar below 2^253 (every reduced
// scalar is, being below the group order) as digits e_i in
// [-2^(w-1), 2^(w-1)] with s = Σ e_i 2^(wi), into buf, and returns them.
func signedDigits(buf *[64]int8, s []byte, w uint) []int8 {
	n := digitCount(w)
	digits := buf[:n]
	half, full := int(1)<<(w-1), int(1)<<w
	carry := 0
	for i := range n {
		bit := uint(i) * w
		var window uint
		for b := uint(0); b < w && bit+b < 256; b++ { // w is small: bit by bit is fine
			window |= uint(s[(bit+b)/8]>>((bit+b)%8)&1) << b
		}
		d := int(window) + carry
		carry = 0
		if d >= half {
			d -= full
			carry = 1
		}
		digits[i] = int8(d)
	}
	return digits
}

// baseTable is the base point's table, computed on first use.
var baseTable = sync.OnceValue(func() *combTable {
	return newCombTable(edwards25519.NewGeneratorPoint(), baseWindow)
})
