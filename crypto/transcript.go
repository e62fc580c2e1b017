package crypto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// transcriptMagic opens every transcript. The version lets a future format
// change produce bytes that can never be confused with today's.
const transcriptMagic = "bulwark/v1"

// Transcript builds the canonical, domain-separated byte string that is
// signed for one kind of message. Protobuf encodings are never signed (they
// are not canonical); every signature is over a Transcript's Sum.
//
// Format. Sum returns the concatenation of, in order:
//
//  1. The 10 ASCII bytes "bulwark/v1" (0x62 0x75 0x6c 0x77 0x61 0x72 0x6b
//     0x2f 0x76 0x31), with no length prefix.
//  2. The tag: one byte holding len(tag) (1..255), then the tag's bytes.
//  3. The cluster id: its length as a 4-byte big-endian unsigned integer,
//     then its bytes (may be empty).
//  4. The fields, in the order the methods were called, with no separators
//     and no type markers:
//     - Uint64: 8 bytes, big-endian.
//     - Uint32: 4 bytes, big-endian.
//     - Digest: the 32 raw digest bytes.
//     - Bytes: len(b) as a 4-byte big-endian unsigned integer, then b.
//
// Example: NewTranscript("ab", "c").Uint32(1).Bytes([]byte{0xff}).Sum() is
//
//	62 75 6c 77 61 72 6b 2f 76 31   "bulwark/v1"
//	02 61 62                        tag "ab"
//	00 00 00 01 63                  cluster id "c"
//	00 00 00 01                     Uint32(1)
//	00 00 00 01 ff                  Bytes{0xff}
//
// Fields carry no type markers, so the encoding is unambiguous only because
// each tag has one fixed field schema: code that signs a given tag must
// always append the same kinds of fields in the same order. The tag keeps a
// signature for one message kind (say a prepare) from being replayed as
// another (a commit), and the cluster id keeps a signature made in one
// cluster from being accepted by another cluster that shares keys.
//
// A Transcript is not safe for concurrent use; build one per message.
type Transcript struct {
	buf []byte
}

// NewTranscript starts a transcript for the message kind tag in the cluster
// clusterID. Tags are constants in the code, so a tag that is empty or longer
// than 255 bytes is a programming error and panics.
func NewTranscript(tag string, clusterID string) *Transcript {
	if len(tag) == 0 || len(tag) > math.MaxUint8 {
		panic(fmt.Sprintf("crypto: transcript tag length %d, want 1..255", len(tag)))
	}
	// Size for the header plus a typical message's fields, to avoid regrowth
	// on the hot path.
	buf := make([]byte, 0, len(transcriptMagic)+1+len(tag)+4+len(clusterID)+96)
	buf = append(buf, transcriptMagic...)
	buf = append(buf, byte(len(tag)))
	buf = append(buf, tag...)
	buf = appendLengthPrefixed(buf, []byte(clusterID))
	return &Transcript{buf: buf}
}

// Uint64 appends v as 8 big-endian bytes.
func (t *Transcript) Uint64(v uint64) *Transcript {
	t.buf = binary.BigEndian.AppendUint64(t.buf, v)
	return t
}

// Uint32 appends v as 4 big-endian bytes.
func (t *Transcript) Uint32(v uint32) *Transcript {
	t.buf = binary.BigEndian.AppendUint32(t.buf, v)
	return t
}

// Digest appends the 32 raw bytes of d; its size is fixed, so no prefix.
func (t *Transcript) Digest(d Digest) *Transcript {
	t.buf = append(t.buf, d[:]...)
	return t
}

// Bytes appends b prefixed with its length as 4 big-endian bytes, so that
// Bytes("ab").Bytes("c") and Bytes("a").Bytes("bc") differ.
func (t *Transcript) Bytes(b []byte) *Transcript {
	t.buf = appendLengthPrefixed(t.buf, b)
	return t
}

// Sum returns the canonical bytes to sign or verify. It returns a copy, so
// the result stays valid if the transcript is extended afterwards and the
// caller may keep or modify it freely.
func (t *Transcript) Sum() []byte {
	return bytes.Clone(t.buf)
}

// appendLengthPrefixed appends a uint32 length prefix and b. Lengths above
// 4 GiB cannot be encoded; no message comes anywhere near, so it panics.
func appendLengthPrefixed(buf, b []byte) []byte {
	if uint64(len(b)) > math.MaxUint32 {
		panic(fmt.Sprintf("crypto: transcript field of %d bytes exceeds the uint32 length prefix", len(b)))
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}
