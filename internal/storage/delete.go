package storage

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// deleteBatch bounds how many keys one deletion transaction holds, so
// garbage collecting a long log never builds one huge transaction (or hits
// Badger's ErrTxnTooBig) and other operations interleave between batches.
const deleteBatch = 1000

// DeleteBelow deletes every record with Sequence < seq, of every kind except
// KindView (the view is not tied to a sequence number and must survive), and
// the snapshots below seq other than the latest complete one: that one is the
// state the remaining log is replayed on, so deleting it would lose state.
// (The driver calls DeleteBelow(s+1) right after PutSnapshot(s).)
//
// Deletion runs in batches of deleteBatch keys, each committed (and synced)
// on its own; it is not atomic and need not be: a crash leaves some old
// records behind, below the stable checkpoint, which the next call deletes.
func (db *DB) DeleteBelow(seq uint64) error {
	release, err := db.acquire()
	if err != nil {
		return err
	}
	defer release()
	db.wmu.Lock()
	defer db.wmu.Unlock()

	if db.log != nil {
		db.log.mu.Lock()
		err := db.log.deleteRecordsBelow(seq)
		db.log.mu.Unlock()
		if err != nil {
			return fmt.Errorf("storage: delete below %d: %w", seq, err)
		}
	}
	for k := KindView + 1; k.writable(); k++ {
		// Start where the last call stopped: the keys below it are deleted,
		// and an iterator would still walk their tombstones until a
		// compaction drops them, more of them at every checkpoint.
		lo := []byte{byte(k)}
		if db.deletedBelow > 0 {
			lo = seqBound(k, db.deletedBelow)
		}
		if err := db.deleteRange(lo, seqBound(k, seq), nil); err != nil {
			return fmt.Errorf("storage: delete %v records below %d: %w", k, seq, err)
		}
	}
	db.deletedBelow = max(db.deletedBelow, seq)

	latestSeq, latest, ok, err := db.latestSnapshot()
	if err != nil {
		return fmt.Errorf("storage: delete snapshots below %d: %w", seq, err)
	}
	keepMeta := func(k []byte) bool { return ok && bytes.Equal(k, metaKey(latestSeq)) }
	if err := db.deleteRange(db.snapshotsFrom(KindSnapshotMeta), seqBound(KindSnapshotMeta, seq), keepMeta); err != nil {
		return fmt.Errorf("storage: delete snapshot metadata below %d: %w", seq, err)
	}
	keepChunk := func(k []byte) bool { return ok && latest.owns(latestSeq, k) }
	if err := db.deleteRange(db.snapshotsFrom(kindSnapshotChunk), seqBound(kindSnapshotChunk, seq), keepChunk); err != nil {
		return fmt.Errorf("storage: delete snapshot chunks below %d: %w", seq, err)
	}
	// Below seq only the latest snapshot remains (kept): below it, nothing.
	if ok {
		db.snapsBelow = max(db.snapsBelow, min(latestSeq, seq))
	} else {
		db.snapsBelow = max(db.snapsBelow, seq)
	}
	return db.committed()
}

// deleteRange deletes the keys in [lo, hi) for which keep (if set) is false,
// deleteBatch keys per transaction. lo's first byte is the kind prefix.
func (db *DB) deleteRange(lo, hi []byte, keep func([]byte) bool) error {
	start := lo
	for {
		keys, err := db.collectKeys(start, hi, lo[:1], keep)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if err := db.deleteKeys(keys); err != nil {
			return err
		}
		if len(keys) < deleteBatch {
			return nil
		}
		// Resume just after the last deleted key.
		start = append(keys[len(keys)-1], 0)
	}
}

// collectKeys returns up to deleteBatch keys in [start, hi) not kept.
func (db *DB) collectKeys(start, hi, prefix []byte, keep func([]byte) bool) ([][]byte, error) {
	var keys [][]byte
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(start); it.Valid() && len(keys) < deleteBatch; it.Next() {
			k := it.Item().KeyCopy(nil)
			if bytes.Compare(k, hi) >= 0 {
				break
			}
			if keep == nil || !keep(k) {
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan keys from %x: %w", start, err)
	}
	return keys, nil
}

// deleteKeys deletes keys, splitting the transaction if Badger says it is
// too big (it will not be at deleteBatch keys with our options).
func (db *DB) deleteKeys(keys [][]byte) error {
	txn := db.bdb.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, k := range keys {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("commit deletions: %w", err)
			}
			txn = db.bdb.NewTransaction(true)
			err = txn.Delete(k)
		}
		if err != nil {
			return fmt.Errorf("delete key %x: %w", k, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit deletions: %w", err)
	}
	return nil
}
