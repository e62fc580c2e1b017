package storage

import (
	"encoding/binary"
	"fmt"
)

// keyLen is the width of every key except the view's: kind, two uint64s and
// a uint32, all big-endian so byte order equals numeric order.
const keyLen = 1 + 8 + 8 + 4

// headerLen is the (sequence, view, replica) header stored in the view
// record's value, since its key carries only the kind.
const headerLen = 8 + 8 + 4

// viewKey is the single, fixed key of the view record.
var viewKey = []byte{byte(KindView)}

// key builds [kind][a:8][b:8][c:4]. For log records a, b, c are sequence,
// view and replica; for snapshot chunks they are sequence, generation, index.
func key(k Kind, a, b uint64, c uint32) []byte {
	buf := make([]byte, keyLen)
	buf[0] = byte(k)
	binary.BigEndian.PutUint64(buf[1:], a)
	binary.BigEndian.PutUint64(buf[9:], b)
	binary.BigEndian.PutUint32(buf[17:], c)
	return buf
}

// parseKey is the inverse of key.
func parseKey(buf []byte) (k Kind, a, b uint64, c uint32, err error) {
	if len(buf) != keyLen {
		return 0, 0, 0, 0, fmt.Errorf("%w: key %x has length %d, want %d", ErrCorrupt, buf, len(buf), keyLen)
	}
	return Kind(buf[0]), binary.BigEndian.Uint64(buf[1:]), binary.BigEndian.Uint64(buf[9:]), binary.BigEndian.Uint32(buf[17:]), nil
}

// seqBound is [kind][seq:8], the exclusive upper bound of every key of kind
// whose sequence is below seq.
func seqBound(k Kind, seq uint64) []byte {
	buf := make([]byte, 9)
	buf[0] = byte(k)
	binary.BigEndian.PutUint64(buf[1:], seq)
	return buf
}

// encodeRecord returns the key and value a record is stored under.
func encodeRecord(r Record) (k, v []byte) {
	if r.Kind == KindView {
		v = make([]byte, headerLen+len(r.Data))
		binary.BigEndian.PutUint64(v, r.Sequence)
		binary.BigEndian.PutUint64(v[8:], r.View)
		binary.BigEndian.PutUint32(v[16:], r.Replica)
		copy(v[headerLen:], r.Data)
		return viewKey, v
	}
	return key(r.Kind, r.Sequence, r.View, r.Replica), r.Data
}

// decodeRecord is the inverse of encodeRecord; it takes ownership of v.
func decodeRecord(k, v []byte) (Record, error) {
	if len(k) == 1 && Kind(k[0]) == KindView {
		if len(v) < headerLen {
			return Record{}, fmt.Errorf("%w: view record value has %d bytes, want at least %d", ErrCorrupt, len(v), headerLen)
		}
		return Record{
			Kind:     KindView,
			Sequence: binary.BigEndian.Uint64(v),
			View:     binary.BigEndian.Uint64(v[8:]),
			Replica:  binary.BigEndian.Uint32(v[16:]),
			Data:     v[headerLen:],
		}, nil
	}
	kind, seq, view, rep, err := parseKey(k)
	if err != nil {
		return Record{}, err
	}
	if kind == KindView {
		// The view record has one key, viewKey; a longer one is damage.
		return Record{}, fmt.Errorf("%w: view record under key %x", ErrCorrupt, k)
	}
	return Record{Kind: kind, Sequence: seq, View: view, Replica: rep, Data: v}, nil
}
