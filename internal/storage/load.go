package storage

import (
	"fmt"
	"maps"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// Load returns every record written by Write, in key order: by kind, then
// sequence, view and replica. Snapshot records are not included; read them
// with Snapshot. It is meant for start-up, so it reads everything at once.
func (db *DB) Load() ([]Record, error) {
	release, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer release()

	var recs []Record
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			if Kind(k[0]) >= KindSnapshotMeta {
				// Snapshot meta and chunks sort after every log kind.
				break
			}
			if !Kind(k[0]).writable() {
				return fmt.Errorf("%w: key %x has unknown kind", ErrCorrupt, k)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read value of key %x: %w", k, err)
			}
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: load %q: %w", db.dir, err)
	}
	return db.withLog(recs, func(logLoc) bool { return true })
}

// withLog merges the protocol log's records for which keep holds into
// Badger's (which hold only what a store written before the log existed
// left there), the log's winning where both hold a key, in key order.
func (db *DB) withLog(recs []Record, keep func(logLoc) bool) ([]Record, error) {
	if db.log == nil {
		return recs, nil
	}
	db.log.mu.Lock()
	logged, err := db.log.records(keep)
	db.log.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return logged, nil
	}
	byKey := make(map[string]Record, len(recs)+len(logged))
	for _, r := range append(recs, logged...) {
		k, _ := encodeRecord(r)
		byKey[string(k)] = r
	}
	keys := slices.Sorted(maps.Keys(byKey))
	merged := make([]Record, 0, len(keys))
	for _, k := range keys {
		merged = append(merged, byKey[k])
	}
	return merged, nil
}

// LoadAt returns the records of kind k at sequence seq (every view and
// replica), in key order. It reads only their keys' range.
func (db *DB) LoadAt(k Kind, seq uint64) ([]Record, error) {
	if !k.writable() || k == KindView {
		return nil, fmt.Errorf("storage: load at %d: %w: %v", seq, ErrKind, k)
	}
	release, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	prefix := seqBound(k, seq)
	var recs []Record
	err = db.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read value of key %x: %w", item.Key(), err)
			}
			r, err := decodeRecord(item.KeyCopy(nil), v)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: load %v at %d in %q: %w", k, seq, db.dir, err)
	}
	return db.withLog(recs, func(loc logLoc) bool { return loc.kind == k && loc.sequence == seq })
}
