package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// snapMeta is the value of a KindSnapshotMeta record. It is written only
// after all of its chunks are durable, so its presence means "complete".
//
//	[version:1][generation:8][chunks:4][size:8][sha256:32]
//
// The generation makes each PutSnapshot write fresh chunk keys, so even
// re-storing a snapshot at the same sequence never overwrites the chunks of
// the complete one still in place.
type snapMeta struct {
	gen    uint64
	chunks uint32
	size   uint64
	sum    [sha256.Size]byte
}

const (
	metaVersion = 1
	metaLen     = 1 + 8 + 4 + 8 + sha256.Size
)

func metaKey(seq uint64) []byte { return key(KindSnapshotMeta, seq, 0, 0) }

func chunkKey(seq, gen uint64, index uint32) []byte {
	return key(kindSnapshotChunk, seq, gen, index)
}

func (m snapMeta) encode() []byte {
	buf := make([]byte, metaLen)
	buf[0] = metaVersion
	binary.BigEndian.PutUint64(buf[1:], m.gen)
	binary.BigEndian.PutUint32(buf[9:], m.chunks)
	binary.BigEndian.PutUint64(buf[13:], m.size)
	copy(buf[21:], m.sum[:])
	return buf
}

func decodeMeta(buf []byte) (snapMeta, error) {
	var m snapMeta
	if len(buf) != metaLen || buf[0] != metaVersion {
		return m, fmt.Errorf("%w: snapshot metadata of %d bytes, version %d", ErrCorrupt, len(buf), firstByte(buf))
	}
	m.gen = binary.BigEndian.Uint64(buf[1:])
	m.chunks = binary.BigEndian.Uint32(buf[9:])
	m.size = binary.BigEndian.Uint64(buf[13:])
	copy(m.sum[:], buf[21:])
	return m, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// owns reports whether chunk key k belongs to this snapshot (at seq).
func (m snapMeta) owns(seq uint64, k []byte) bool {
	_, s, g, idx, err := parseKey(k)
	return err == nil && s == seq && g == m.gen && idx < m.chunks
}

// latestSnapshot finds the complete snapshot with the highest sequence.
func (db *DB) latestSnapshot() (seq uint64, m snapMeta, ok bool, err error) {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	if l := db.latest; l != nil {
		return l.seq, l.meta, l.ok, nil
	}
	seq, m, ok, err = db.readLatestSnapshot()
	if err == nil {
		db.latest = &latestSnap{seq: seq, meta: m, ok: ok}
	}
	return seq, m, ok, err
}

// setLatest records the snapshot PutSnapshot just completed, or forgets
// the cache (l nil) when a write failed and the store must be asked.
func (db *DB) setLatest(l *latestSnap) {
	db.snapMu.Lock()
	db.latest = l
	db.snapMu.Unlock()
}

func (db *DB) readLatestSnapshot() (seq uint64, m snapMeta, ok bool, err error) {
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{byte(KindSnapshotMeta)}, Reverse: true})
		defer it.Close()
		// In reverse, Seek lands on the largest key <= the argument.
		it.Seek(append([]byte{byte(KindSnapshotMeta)}, bytes.Repeat([]byte{0xff}, keyLen-1)...))
		if !it.Valid() {
			return nil
		}
		item := it.Item()
		_, s, _, _, err := parseKey(item.Key())
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read snapshot %d metadata: %w", s, err)
		}
		if m, err = decodeMeta(v); err != nil {
			return fmt.Errorf("snapshot %d: %w", s, err)
		}
		seq, ok = s, true
		return nil
	})
	return seq, m, ok, err
}

// snapshotMeta reads the metadata of the complete snapshot at seq.
func snapshotMeta(txn *badger.Txn, seq uint64) (snapMeta, error) {
	item, err := txn.Get(metaKey(seq))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return snapMeta{}, fmt.Errorf("%w at sequence %d", ErrNoSnapshot, seq)
	}
	if err != nil {
		return snapMeta{}, fmt.Errorf("read snapshot %d metadata: %w", seq, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return snapMeta{}, fmt.Errorf("read snapshot %d metadata: %w", seq, err)
	}
	m, err := decodeMeta(v)
	if err != nil {
		return snapMeta{}, fmt.Errorf("snapshot %d: %w", seq, err)
	}
	return m, nil
}

// maxGeneration returns the highest chunk generation stored for seq,
// complete or not (a crashed PutSnapshot leaves chunks without metadata).
func (db *DB) maxGeneration(seq uint64) (uint64, error) {
	var gen uint64
	prefix := seqBound(kindSnapshotChunk, seq)
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, _, g, _, err := parseKey(it.Item().Key())
			if err != nil {
				return err
			}
			gen = max(gen, g)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan snapshot %d chunks: %w", seq, err)
	}
	return gen, nil
}
