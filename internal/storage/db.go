package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// DB is a replica's durable store. Its methods are safe for concurrent use.
type DB struct {
	dir   string
	bdb   *badger.DB
	fault *faultLatch
	// log holds what Write writes (see protolog.go); nil in memory, where
	// Badger holds it.
	log *protoLog

	// mu guards closed; every operation holds it shared for its whole
	// duration so Close (exclusive) never pulls Badger out from under it.
	mu     sync.RWMutex
	closed bool

	// wmu serialises the writes of this package: PutSnapshot and
	// DeleteBelow read what is stored, then write based on it.
	wmu sync.Mutex
	// deletedBelow is where the last DeleteBelow left off (under wmu):
	// no log record below it remains. 0 after Open, so the first call
	// scans from the start and also finishes what a crash interrupted.
	deletedBelow uint64
	// snapsBelow is the same for snapshot metadata and chunks (under wmu).
	snapsBelow uint64

	// latest caches the latest complete snapshot: finding it in Badger
	// walks the tombstones of every snapshot deleted since the last
	// memtable flush, and it is asked for at every stable checkpoint.
	snapMu sync.Mutex
	latest *latestSnap // nil: unknown, read it from the store
}

type latestSnap struct {
	seq  uint64
	meta snapMeta
	ok   bool
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*DB, error) {
	if opts.InMemory {
		if opts.Dir != "" {
			return nil, fmt.Errorf("storage: open: InMemory set together with Dir %q", opts.Dir)
		}
	} else {
		if opts.Dir == "" {
			return nil, errors.New("storage: open: no Dir given")
		}
		if err := ensureDir(opts.Dir); err != nil {
			return nil, err
		}
		if err := removeEmptyLogFiles(opts.Dir, opts.Logger); err != nil {
			return nil, err
		}
	}
	fault := &faultLatch{}
	bdb, err := badger.Open(badgerOptions(opts, fault))
	if err != nil {
		return nil, fmt.Errorf("storage: open badger in %q: %w", opts.Dir, err)
	}
	db := &DB{dir: opts.Dir, bdb: bdb, fault: fault}
	if !opts.InMemory {
		if db.log, err = openProtoLog(opts.Dir); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("storage: open %q: %w", opts.Dir, err)
		}
	}
	return db, nil
}

// ensureDir creates dir, and says plainly when the path exists but is not a
// directory (Badger's own message for that case is an obscure mkdir error).
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("storage: open %q: not a directory", dir)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("storage: open %q: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: create data directory %q: %w", dir, err)
	}
	return nil
}

// acquire takes the shared lock and fails once the store is closed; the
// caller must call the returned release.
func (db *DB) acquire() (release func(), err error) {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	return db.mu.RUnlock, nil
}

// Close flushes and closes the store. It waits for running operations;
// calling it again is a no-op.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if db.log != nil {
		db.log.mu.Lock()
		err := db.log.close()
		db.log.mu.Unlock()
		if err != nil {
			db.bdb.Close()
			return fmt.Errorf("storage: close %q: %w", db.dir, err)
		}
	}
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("storage: close %q: %w", db.dir, err)
	}
	return nil
}

// committed checks, after a commit, that Badger did not swallow an fsync
// failure (see faultLatch); once one happened, nothing is durable any more.
func (db *DB) committed() error {
	if err := db.fault.get(); err != nil {
		return fmt.Errorf("storage: %q: %w", db.dir, err)
	}
	return nil
}
