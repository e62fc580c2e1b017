package kv

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	snapshotMagic   = "BWKV"
	snapshotVersion = 1
	headerSize      = len(snapshotMagic) + 1 + 8
	// minEntrySize is the smallest encoded entry (empty key and value). It
	// bounds the entry count a snapshot of a given length can claim.
	minEntrySize = 2 * lenSize
)

var (
	// ErrMalformedSnapshot reports a snapshot that is truncated, has trailing
	// bytes, exceeds limits or is not in canonical (sorted) order.
	ErrMalformedSnapshot = errors.New("kv: malformed snapshot")
	// ErrSnapshotVersion reports a snapshot written by an unknown format version.
	ErrSnapshotVersion = errors.New("kv: unsupported snapshot version")
)

// Snapshot returns the canonical encoding of the state (see the package
// documentation). It never fails; the error is part of the Service contract.
func (s *Store) Snapshot() ([]byte, error) {
	size := headerSize
	for k, v := range s.data {
		size += minEntrySize + len(k) + len(v)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	s.writeCanonical(buf)
	return buf.Bytes(), nil
}

// writeCanonical writes the snapshot encoding to w. Snapshot and Digest share
// it so the digest is, by construction, the hash of the snapshot. w must be a
// writer that cannot fail (bytes.Buffer, hash.Hash).
func (s *Store) writeCanonical(w io.Writer) {
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, snapshotMagic...)
	hdr = append(hdr, snapshotVersion)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(s.data)))
	w.Write(hdr)

	var scratch []byte
	for _, k := range s.sortedKeys() {
		v := s.data[k]
		// Batch key and value prefix into one Write; hashing many tiny
		// writes is measurably slower.
		scratch = binary.BigEndian.AppendUint32(scratch[:0], uint32(len(k)))
		scratch = append(scratch, k...)
		scratch = binary.BigEndian.AppendUint32(scratch, uint32(len(v)))
		w.Write(scratch)
		w.Write(v)
	}
}

// Restore replaces the state with the one encoded in snap. The snapshot is
// fully decoded and validated into a new map first, so on error the store is
// untouched. Allocation is bounded by len(snap): the entry count is checked
// against the remaining input before anything is sized from it.
func (s *Store) Restore(snap []byte) error {
	data, keys, err := decodeSnapshot(snap)
	if err != nil {
		return fmt.Errorf("kv: restore: %w", err)
	}
	s.data = data
	s.sorted, s.sortedOK = keys, true
	// Accepted snapshots are canonical, so their hash is the digest.
	s.digest, s.digestOK = sha256.Sum256(snap), true
	return nil
}

func decodeSnapshot(snap []byte) (map[string][]byte, []string, error) {
	if len(snap) < len(snapshotMagic) || string(snap[:len(snapshotMagic)]) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: bad magic", ErrMalformedSnapshot)
	}
	r := reader{b: snap, off: len(snapshotMagic), malformed: ErrMalformedSnapshot}
	ver, err := r.readByte("version")
	if err != nil {
		return nil, nil, err
	}
	if ver != snapshotVersion {
		return nil, nil, fmt.Errorf("%w: got %d, want %d", ErrSnapshotVersion, ver, snapshotVersion)
	}
	count, err := r.readUint64("entry count")
	if err != nil {
		return nil, nil, err
	}
	if count > uint64(r.remaining()/minEntrySize) {
		return nil, nil, fmt.Errorf("%w: %d entries cannot fit in %d bytes",
			ErrMalformedSnapshot, count, r.remaining())
	}
	data := make(map[string][]byte, count)
	keys := make([]string, 0, count)
	for i := range count {
		k, err := r.field("key", MaxKeySize, ErrMalformedSnapshot)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d: %w", i, err)
		}
		v, err := r.field("value", MaxValueSize, ErrMalformedSnapshot)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d: %w", i, err)
		}
		// Strict order rejects duplicates and keeps the encoding canonical,
		// which is what lets Restore take the digest from the input bytes.
		if i > 0 && keys[i-1] >= string(k) {
			return nil, nil, fmt.Errorf("%w: entry %d: key not in strictly increasing order", ErrMalformedSnapshot, i)
		}
		key := string(k)
		data[key] = append(make([]byte, 0, len(v)), v...) // copy: snap belongs to the caller
		keys = append(keys, key)
	}
	if err := r.end(); err != nil {
		return nil, nil, err
	}
	return data, keys, nil
}
