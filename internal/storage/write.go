package storage

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Write stores recs as one atomic batch, in the protocol log (one frame, see
// protolog.go). With sync it returns once they, and everything written
// before, are durable; without, a crash may lose them, and the unsynced
// writes after them, until the next synced operation. A store in memory
// (tests) writes them to Badger, where the rest of this comment applies.
//
// Durability in Badger: it runs with SyncWrites, so every commit msyncs the
// memtable's write-ahead log and the value-log file before Commit returns;
// sync=true therefore needs nothing more, and sync=false is accepted but costs
// the same (see the benchmarks; the driver holds such writes back instead and
// writes them with the next synced one). The other way
// Badger offers, SyncWrites off plus DB.Sync after a synced commit, was
// rejected after reading badger v4.9.6:
//   - DB.Sync syncs only the *active* memtable's WAL; a memtable that rotated
//     between our commit and our Sync keeps its WAL unsynced until it is
//     flushed, so a "synced" write could be lost;
//   - value-log GC (RunGC) moves live values by writing them again and then
//     deletes the old file at once; without SyncWrites the moved copies are
//     not durable when the old file is unlinked, so a power loss right after
//     a GC would lose live records (pre-prepares, snapshot chunks) that had
//     been synced long before.
//
// Atomicity: the batch is one Badger transaction, all-or-nothing across a
// crash. A transaction is capped at 15% of MemTableSize (about 600 KB with
// our options) counting keys, small values and 12-byte pointers for values
// of 1 KB or more, i.e. roughly ten thousand records; a larger batch (the
// protocol never produces one: a Ready persists a handful of messages) is
// split into consecutive transactions committed in order, each atomic. A
// crash can then leave only a prefix of the batch, which is safe for the
// PBFT contract: writes precede every send, so nothing that depends on the
// missing suffix has left the replica.
func (db *DB) Write(recs []Record, sync bool) error {
	for i, r := range recs {
		if !r.Kind.writable() {
			return fmt.Errorf("storage: write record %d: %w: %v", i, ErrKind, r.Kind)
		}
	}
	release, err := db.acquire()
	if err != nil {
		return err
	}
	defer release()
	db.wmu.Lock()
	defer db.wmu.Unlock()

	if db.log != nil {
		if err := db.committed(); err != nil { // Badger lost a sync: the store is suspect
			return err
		}
		db.log.mu.Lock()
		defer db.log.mu.Unlock()
		if err := db.log.write(recs, sync); err != nil {
			return fmt.Errorf("storage: write %d records: %w", len(recs), err)
		}
		return nil
	}
	if err := db.setAll(recs); err != nil {
		return err
	}
	return db.committed()
}

// setAll writes recs in as few transactions as Badger allows, in order.
func (db *DB) setAll(recs []Record) error {
	txn := db.bdb.NewTransaction(true)
	defer func() { txn.Discard() }()
	for i, r := range recs {
		k, v := encodeRecord(r)
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("storage: commit records before %d: %w", i, err)
			}
			txn = db.bdb.NewTransaction(true)
			err = txn.Set(k, v)
		}
		if err != nil {
			return fmt.Errorf("storage: write %v record seq %d view %d: %w", r.Kind, r.Sequence, r.View, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("storage: commit %d records: %w", len(recs), err)
	}
	return nil
}
