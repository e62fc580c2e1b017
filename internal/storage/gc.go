package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

const (
	// gcDiscardRatio is Badger's recommendation: rewrite a value-log file
	// when at least half of it is garbage (lifetime write amplification 2).
	gcDiscardRatio = 0.5
	// maxGCRounds is a safety valve; each round deletes a whole value-log
	// file, so a store of bounded size finishes long before it.
	maxGCRounds = 100
)

// gcMarker is a throw-away key under a prefix of its own (above every Kind
// and the chunk prefix), written and dropped by compactForGC.
var gcMarker = []byte{0xF0}

// RunGC makes the data directory shrink after DeleteBelow: it compacts the
// deletions (compactForGC), then runs Badger's value-log GC, one file per
// round, until Badger finds no file worth rewriting (ErrNoRewrite). Badger
// never rewrites the value-log file currently written to, so up to one
// ValueLogFileSize of garbage can remain until that file fills.
//
// The compaction holds the store exclusively (reads and writes wait, for
// as long as flushing the memtables and compacting level 0 takes); the
// value-log rounds, which rewrite whole files of large values and can take
// seconds, run beside reads and writes, as Badger allows. A Close meanwhile
// waits for the round in progress and ends the rest (ErrClosed), as does
// ctx ending.
func (db *DB) RunGC(ctx context.Context) error {
	if err := db.compactExclusively(); err != nil {
		return err
	}
	for range maxGCRounds {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("storage: value-log GC in %q: %w", db.dir, err)
		}
		done, err := db.valueLogRound()
		if err != nil || done {
			return err
		}
	}
	return nil
}

// compactExclusively runs compactForGC with the store held exclusively.
func (db *DB) compactExclusively() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if db.dir == "" {
		return nil // InMemory: no files to reclaim
	}
	return db.compactForGC()
}

// valueLogRound rewrites at most one value-log file; done reports that
// Badger found none worth it.
func (db *DB) valueLogRound() (done bool, err error) {
	release, err := db.acquire()
	if err != nil {
		return false, err
	}
	defer release()
	if db.dir == "" {
		return true, nil
	}
	err = db.bdb.RunValueLogGC(gcDiscardRatio)
	if errors.Is(err, badger.ErrNoRewrite) {
		return true, db.committed()
	}
	if err != nil {
		return false, fmt.Errorf("storage: value-log GC in %q: %w", db.dir, err)
	}
	return false, nil
}

// compactForGC turns deletions into reclaimable value-log space. Badger only
// learns that a value-log entry is garbage when a compaction drops the
// deleted version pointing at it, and compactions only follow memtable
// flushes, which come every MemTableSize of keys and small values. A
// replica's log is mostly small keys with values in the value log, so
// without help hundreds of megabytes of deleted values would pile up before
// the first flush.
//
// Badger v4 has no public "flush memtable" call; DropPrefix does exactly
// what is needed: it flushes every memtable to L0, then compacts all of L0
// into the base level (dropping deleted versions and recording the discard
// statistics GC reads). So we write a marker key under a prefix of its own
// and drop that prefix. DropPrefix blocks writes while it runs, which is why
// compactExclusively holds the store exclusively.
func (db *DB) compactForGC() error {
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(gcMarker, nil) }); err != nil {
		return fmt.Errorf("storage: write GC marker in %q: %w", db.dir, err)
	}
	if err := db.bdb.DropPrefix(gcMarker); err != nil {
		return fmt.Errorf("storage: flush and compact in %q: %w", db.dir, err)
	}
	return nil
}
