package kv

import (
	"encoding/binary"
	"fmt"
)

// lenSize is the size of a field's length prefix.
const lenSize = 4

// appendField appends f with its uint32 length prefix.
func appendField(dst, f []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
	return append(dst, f...)
}

// reader decodes the package's length-prefixed wire format. It never
// allocates: fields alias the input. Every length is checked against a limit
// and against the bytes that remain before it is used, so a hostile length
// prefix cannot cause a large allocation or an out-of-range slice.
type reader struct {
	b   []byte
	off int
	// malformed is the sentinel wrapped by structural errors, so callers can
	// tell "bad op" from "bad snapshot" with errors.Is.
	malformed error
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) short(what string, need int) error {
	return fmt.Errorf("%w: truncated %s at offset %d: need %d bytes, have %d",
		r.malformed, what, r.off, need, r.remaining())
}

func (r *reader) readByte(what string) (byte, error) {
	if r.remaining() < 1 {
		return 0, r.short(what, 1)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) readUint64(what string) (uint64, error) {
	if r.remaining() < 8 {
		return 0, r.short(what, 8)
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// field reads a length-prefixed field of at most limit bytes. tooLarge is the
// sentinel wrapped when the declared length exceeds limit.
func (r *reader) field(what string, limit int, tooLarge error) ([]byte, error) {
	if r.remaining() < lenSize {
		return nil, r.short(what+" length", lenSize)
	}
	n := binary.BigEndian.Uint32(r.b[r.off:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", tooLarge, what, n, limit)
	}
	r.off += lenSize
	if uint64(n) > uint64(r.remaining()) {
		return nil, r.short(what, int(n))
	}
	f := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return f, nil
}

// end rejects trailing bytes, which keeps every encoding canonical.
func (r *reader) end() error {
	if n := r.remaining(); n != 0 {
		return fmt.Errorf("%w: %d trailing bytes at offset %d", r.malformed, n, r.off)
	}
	return nil
}
