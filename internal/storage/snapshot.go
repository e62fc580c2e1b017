package storage

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

const (
	// DefaultChunkSize is used when PutSnapshot is given chunkSize <= 0.
	DefaultChunkSize = 1 << 20
	// MaxChunkSize caps a chunk so no single value (and no state-transfer
	// message built from one) is huge; larger requests are clamped.
	MaxChunkSize = 8 << 20
	// snapshotTxnBytes bounds the chunk bytes one transaction carries, so
	// a large snapshot is written as several bounded value-log requests.
	snapshotTxnBytes = 16 << 20
)

// PutSnapshot stores data as the snapshot at seq, in chunks of chunkSize
// bytes (clamped to [1, MaxChunkSize], DefaultChunkSize if <= 0).
//
// It replaces older snapshots only once the new one is complete: it writes
// the chunks under a fresh generation, then the metadata record that makes
// the snapshot visible, and only then deletes older snapshots. Every commit is
// synced (SyncWrites, see Write) and commits are applied in order, so the
// metadata is never durable without its chunks, and a crash at any point
// leaves the previous complete snapshot readable. Storing
// the same data at the latest sequence again is a no-op; a sequence below the
// latest complete snapshot is refused (ErrStaleSnapshot).
func (db *DB) PutSnapshot(seq uint64, data []byte, chunkSize int) error {
	chunkSize = clampChunk(chunkSize)
	release, err := db.acquire()
	if err != nil {
		return err
	}
	defer release()
	db.wmu.Lock()
	defer db.wmu.Unlock()

	if db.log != nil { // what was written before the snapshot is durable before it
		db.log.mu.Lock()
		err := db.log.sync()
		db.log.mu.Unlock()
		if err != nil {
			return fmt.Errorf("storage: put snapshot %d: %w", seq, err)
		}
	}
	latestSeq, latest, ok, err := db.latestSnapshot()
	if err != nil {
		return fmt.Errorf("storage: put snapshot %d: %w", seq, err)
	}
	sum := sha256.Sum256(data)
	if ok && seq < latestSeq {
		return fmt.Errorf("storage: put snapshot %d: %w (latest is %d)", seq, ErrStaleSnapshot, latestSeq)
	}
	if ok && seq == latestSeq && latest.sum == sum && latest.size == uint64(len(data)) {
		return nil
	}
	gen, err := db.maxGeneration(seq)
	if err != nil {
		return fmt.Errorf("storage: put snapshot %d: %w", seq, err)
	}
	m := snapMeta{gen: gen + 1, chunks: uint32((len(data) + chunkSize - 1) / chunkSize), size: uint64(len(data)), sum: sum}

	if err := db.putChunks(seq, m.gen, data, chunkSize); err != nil {
		return fmt.Errorf("storage: put snapshot %d: %w", seq, err)
	}
	// The chunks are durable (their commits returned) before the metadata
	// that vouches for them is written.
	if err := db.committed(); err != nil {
		return err
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(metaKey(seq), m.encode()) }); err != nil {
		db.setLatest(nil) // whether it landed is unknown: ask the store next time
		return fmt.Errorf("storage: put snapshot %d metadata: %w", seq, err)
	}
	if err := db.committed(); err != nil {
		db.setLatest(nil)
		return err
	}
	db.setLatest(&latestSnap{seq: seq, meta: m, ok: true})

	// Now the new snapshot is complete; drop every other one, and any
	// chunks a crashed PutSnapshot left behind (from where the last call
	// left off: below that nothing remains).
	newMeta := metaKey(seq)
	if err := db.deleteRange(db.snapshotsFrom(KindSnapshotMeta), []byte{byte(KindSnapshotMeta) + 1}, func(k []byte) bool { return string(k) == string(newMeta) }); err != nil {
		return fmt.Errorf("storage: delete snapshots older than %d: %w", seq, err)
	}
	if err := db.deleteRange(db.snapshotsFrom(kindSnapshotChunk), []byte{byte(kindSnapshotChunk) + 1}, func(k []byte) bool { return m.owns(seq, k) }); err != nil {
		return fmt.Errorf("storage: delete snapshot chunks older than %d: %w", seq, err)
	}
	db.snapsBelow = seq
	return db.committed()
}

// snapshotsFrom is where a scan of snapshot records of kind k starts: no
// such record lies below snapsBelow.
func (db *DB) snapshotsFrom(k Kind) []byte {
	if db.snapsBelow == 0 {
		return []byte{byte(k)}
	}
	return seqBound(k, db.snapsBelow)
}

func clampChunk(n int) int {
	switch {
	case n <= 0:
		return DefaultChunkSize
	case n > MaxChunkSize:
		return MaxChunkSize
	}
	return n
}

// putChunks writes data's chunks in transactions of at most
// snapshotTxnBytes; atomicity is not needed, the metadata record comes later.
func (db *DB) putChunks(seq, gen uint64, data []byte, chunkSize int) error {
	txn := db.bdb.NewTransaction(true)
	defer func() { txn.Discard() }()
	pending := 0
	for i := 0; i*chunkSize < len(data); i++ {
		chunk := data[i*chunkSize : min((i+1)*chunkSize, len(data))]
		k := chunkKey(seq, gen, uint32(i))
		err := txn.Set(k, chunk)
		if errors.Is(err, badger.ErrTxnTooBig) || (err == nil && pending+len(chunk) > snapshotTxnBytes) {
			if cerr := txn.Commit(); cerr != nil {
				return fmt.Errorf("commit chunks before %d: %w", i, cerr)
			}
			txn, pending = db.bdb.NewTransaction(true), 0
			err = txn.Set(k, chunk)
		}
		if err != nil {
			return fmt.Errorf("write chunk %d: %w", i, err)
		}
		pending += len(chunk)
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit chunks: %w", err)
	}
	return nil
}

// Snapshot returns the latest complete snapshot, verified against its
// checksum, or (0, nil, nil) if there is none. A stored empty snapshot comes
// back as a non-nil empty slice.
func (db *DB) Snapshot() (seq uint64, data []byte, err error) {
	release, err := db.acquire()
	if err != nil {
		return 0, nil, err
	}
	defer release()

	seq, m, ok, err := db.latestSnapshot()
	if err != nil {
		return 0, nil, fmt.Errorf("storage: read snapshot: %w", err)
	}
	if !ok {
		return 0, nil, nil
	}
	err = db.bdb.View(func(txn *badger.Txn) error {
		// Damaged metadata could claim any size: only the chunks actually
		// stored, measured without copying them, size the buffer.
		var stored uint64
		for i := range m.chunks {
			item, err := chunkItem(txn, seq, m, i)
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { stored += uint64(len(v)); return nil }); err != nil {
				return fmt.Errorf("read chunk %d: %w", i, err)
			}
		}
		if stored != m.size {
			return fmt.Errorf("%w: chunks of %d bytes, metadata says %d", ErrCorrupt, stored, m.size)
		}
		data = make([]byte, 0, stored)
		for i := range m.chunks {
			chunk, err := readChunk(txn, seq, m, i)
			if err != nil {
				return err
			}
			data = append(data, chunk...)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("storage: read snapshot %d: %w", seq, err)
	}
	if uint64(len(data)) != m.size || sha256.Sum256(data) != m.sum {
		return 0, nil, fmt.Errorf("storage: read snapshot %d: %w: checksum or size mismatch", seq, ErrCorrupt)
	}
	return seq, data, nil
}

// SnapshotChunk returns chunk index of the complete snapshot at seq and the
// snapshot's number of chunks, for serving state transfer piecewise.
func (db *DB) SnapshotChunk(seq uint64, index int) ([]byte, int, error) {
	release, err := db.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer release()

	var chunk []byte
	var total int
	err = db.bdb.View(func(txn *badger.Txn) error {
		m, err := snapshotMeta(txn, seq)
		if err != nil {
			return err
		}
		total = int(m.chunks)
		if index < 0 || index >= total {
			return fmt.Errorf("%w: %d not in [0, %d)", ErrChunkIndex, index, total)
		}
		chunk, err = readChunk(txn, seq, m, uint32(index))
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("storage: snapshot %d chunk %d: %w", seq, index, err)
	}
	return chunk, total, nil
}

func chunkItem(txn *badger.Txn, seq uint64, m snapMeta, i uint32) (*badger.Item, error) {
	item, err := txn.Get(chunkKey(seq, m.gen, i))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: chunk %d of %d missing", ErrCorrupt, i, m.chunks)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %d: %w", i, err)
	}
	return item, nil
}

func readChunk(txn *badger.Txn, seq uint64, m snapMeta, i uint32) ([]byte, error) {
	item, err := chunkItem(txn, seq, m, i)
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("read chunk %d: %w", i, err)
	}
	return v, nil
}
