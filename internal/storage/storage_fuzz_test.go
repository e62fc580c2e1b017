package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"runtime/metrics"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// FuzzDecodeRecord decodes arbitrary stored keys and values: never a panic,
// and a record it accepts is stored under exactly that key and value.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []Record{
		{Kind: KindView, Sequence: 1, View: 9, Replica: 2, Data: []byte("x")},
		{Kind: KindView, View: 3},
		{Kind: KindPrePrepare, Sequence: 5, View: 1, Replica: 0, Data: []byte("pre-prepare")},
		{Kind: KindCommitted, Sequence: 1 << 40, View: 1 << 50, Replica: 1<<32 - 1},
	} {
		k, v := encodeRecord(r)
		f.Add(k, v)
	}
	f.Add([]byte{byte(KindView)}, make([]byte, headerLen-1))
	f.Add(make([]byte, keyLen-1), []byte{})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		r, err := decodeRecord(k, append([]byte(nil), v...))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		k2, v2 := encodeRecord(r)
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("record %v is stored as %x=%x, was read from %x=%x", brief(r), k2, v2, k, v)
		}
	})
}

var (
	fuzzDB     *DB
	fuzzDBUses int
)

// fuzzStore is an in-memory store shared by a fuzzing process's inputs, as
// opening Badger per input would dominate the run; it is emptied before
// each input and kvs stored in one transaction. Deleted versions pile up
// in the memtable and slow every read, so a fresh store replaces it every
// 256 inputs.
func fuzzStore(t *testing.T, kvs map[string][]byte) *DB {
	if fuzzDBUses++; fuzzDB == nil || fuzzDBUses%256 == 0 {
		if fuzzDB != nil {
			if err := fuzzDB.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if fuzzDB, err = Open(Options{InMemory: true}); err != nil {
			t.Fatal(err)
		}
	}
	var old [][]byte
	err := fuzzDB.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			old = append(old, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err == nil {
		err = fuzzDB.bdb.Update(func(txn *badger.Txn) error {
			for _, k := range old {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			for k, v := range kvs {
				if err := txn.Set([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	// The contents were replaced behind the store's back: forget what it
	// remembers of them, as reopening it would.
	fuzzDB.setLatest(nil)
	fuzzDB.deletedBelow, fuzzDB.snapsBelow = 0, 0
	return fuzzDB
}

func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzStoredSnapshot corrupts what a store holds: a snapshot stored as
// PutSnapshot stores it, but with one field of its metadata overwritten (or
// the metadata cut short or extended), and arbitrary log records under raw
// keys, the way a damaged disk could leave them. Reading must never panic
// nor allocate beyond a multiple of what is stored (a size field must not be
// trusted to allocate), a snapshot it returns is the one written, and
// records Load returns are exactly those stored.
func FuzzStoredSnapshot(f *testing.F) {
	f.Add([]byte("a snapshot of a few chunks"), byte(4), byte(metaIntact), uint64(0), []byte{})
	f.Add([]byte("a snapshot"), byte(0), byte(metaGen), uint64(2), []byte{})
	f.Add([]byte("size claims an exabyte"), byte(3), byte(metaSize), uint64(1<<60), []byte{})
	f.Add([]byte("size claims a terabyte"), byte(3), byte(metaSize), uint64(1<<40), []byte{})
	f.Add([]byte("more chunks than stored"), byte(3), byte(metaChunks), uint64(1<<30), []byte{})
	f.Add([]byte("bad version"), byte(1), byte(metaVersionField), uint64(2), []byte{})
	f.Add([]byte("cut short"), byte(1), byte(metaTruncate), uint64(13), []byte{})
	f.Add([]byte{}, byte(0), byte(metaIntact), uint64(0), []byte{1, 3, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte("x"), byte(0), byte(metaExtend), uint64(1), append([]byte{21, 2}, make([]byte, 21)...))
	f.Fuzz(func(t *testing.T, snap []byte, chunkSize, field byte, value uint64, raw []byte) {
		const seq = 64
		kvs := rawRecords(raw)
		// The snapshot as PutSnapshot stores it, in chunks of 1 to 16 bytes.
		size := int(chunkSize%16) + 1
		m := snapMeta{gen: 1, chunks: uint32((len(snap) + size - 1) / size), size: uint64(len(snap)), sum: sha256.Sum256(snap)}
		for i := 0; i*size < len(snap); i++ {
			kvs[string(chunkKey(seq, m.gen, uint32(i)))] = snap[i*size : min((i+1)*size, len(snap))]
		}
		meta, intact := corruptMeta(m, field, value)
		kvs[string(metaKey(seq))] = meta
		db := fuzzStore(t, kvs)
		before := heapAllocated()

		gotSeq, data, err := db.Snapshot()
		if intact && err != nil {
			t.Fatalf("an intact snapshot does not read: %v", err)
		}
		if err == nil && data != nil && (gotSeq != seq || !bytes.Equal(data, snap)) {
			t.Fatalf("read snapshot %d of %d bytes, stored %d of %d", gotSeq, len(data), seq, len(snap))
		}
		for i := range 3 {
			chunk, _, err := db.SnapshotChunk(seq, i)
			if err == nil && len(chunk) > len(snap) {
				t.Fatalf("chunk %d of %d bytes from a %d-byte snapshot", i, len(chunk), len(snap))
			}
		}
		recs, err := db.Load()
		if err == nil {
			for _, r := range recs {
				k, v := encodeRecord(r)
				if want, ok := kvs[string(k)]; !ok || !bytes.Equal(want, v) {
					t.Fatalf("loaded %v, which was not stored", brief(r))
				}
			}
		}
		if grew := heapAllocated() - before; grew > 64*uint64(len(snap)+len(raw))+4<<20 {
			t.Fatalf("reading a store of %d bytes allocated %d", len(snap)+len(raw), grew)
		}
	})
}

// Which part of the snapshot metadata FuzzStoredSnapshot overwrites.
const (
	metaIntact = iota
	metaVersionField
	metaGen
	metaChunks
	metaSize
	metaSum
	metaTruncate
	metaExtend
	metaFields
)

// corruptMeta encodes m with one field overwritten by value, or cut to
// value bytes, or extended by value bytes, and reports whether it is intact.
func corruptMeta(m snapMeta, field byte, value uint64) (meta []byte, intact bool) {
	switch field % metaFields {
	case metaVersionField:
		meta = m.encode()
		meta[0] = byte(value)
		return meta, meta[0] == metaVersion
	case metaGen:
		m.gen = value
		return m.encode(), value == 1
	case metaChunks:
		intact = uint32(value) == m.chunks
		m.chunks = uint32(value)
	case metaSize:
		intact = value == m.size
		m.size = value
	case metaSum:
		m.sum[value%sha256.Size] ^= byte(value>>8) | 1
	case metaTruncate:
		return m.encode()[:value%metaLen], false
	case metaExtend:
		return append(m.encode(), make([]byte, 1+value%64)...), false
	default:
		return m.encode(), true
	}
	return m.encode(), intact
}

// rawRecords decodes raw as key/value pairs, each [key length][key][value
// length][value] with one-byte lengths, keeping only keys of the log kinds,
// which is where Load reads.
func rawRecords(raw []byte) map[string][]byte {
	kvs := make(map[string][]byte)
	take := func() ([]byte, bool) {
		if len(raw) == 0 || int(raw[0]) > len(raw)-1 {
			return nil, false
		}
		b := raw[1 : 1+int(raw[0])]
		raw = raw[1+int(raw[0]):]
		return b, true
	}
	for {
		k, ok := take()
		if !ok {
			return kvs
		}
		v, ok := take()
		if !ok {
			return kvs
		}
		if len(k) > 0 && Kind(k[0]) < KindSnapshotMeta {
			kvs[string(k)] = v
		}
	}
}
