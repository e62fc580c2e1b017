package storage

import (
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configure Open.
type Options struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// InMemory keeps everything in memory, for unit tests only: nothing
	// survives Close and Sync is a no-op. Dir must then be empty.
	InMemory bool
	// Logger receives Badger's warnings and errors; nil means slog.Default().
	Logger *slog.Logger

	// tune, when set, adjusts the Badger options last. Tests use it to shrink
	// file sizes so value-log GC can be exercised in a few megabytes.
	tune func(*badger.Options)
}

// badgerOptions sizes Badger for a replica that should idle well under
// 100 MB of memory. Badger's defaults target large databases (5 x 64 MB
// memtables, a 256 MB block cache, 1 GB value-log files); a replica's store
// holds only the log since the last stable checkpoint plus one snapshot.
// Worst case resident: 2 memtable arenas (MemTableSize plus 2 x 15% batch
// headroom, ~5.2 MB each) + 16 MB block cache + 8 MB index cache, and the
// table builders' buffers Badger pools after flushes (a few per memtable
// size), about 50 MB.
func badgerOptions(opts Options, fault *faultLatch) badger.Options {
	bo := badger.DefaultOptions(opts.Dir)
	if opts.InMemory {
		// Badger refuses InMemory with a directory set.
		bo = badger.DefaultOptions("").WithInMemory(true)
	}

	// Every commit is durable before it returns (msync of the memtable WAL
	// and the value-log file). The alternative, SyncWrites off plus DB.Sync
	// after a synced write, is unsound here; see Write.
	bo.SyncWrites = true

	// Each memtable allocates its whole arena (MemTableSize plus batch
	// headroom) up front, and each flush builds a table of its size with
	// buffers Badger then keeps pooled, so this is a direct memory cost
	// (with 8 MB a replica held 40-60 MB of them after any sustained load).
	// 4 MB still absorbs a checkpoint interval of protocol messages per
	// flush. It also caps one transaction at 15% of it (600 KB of keys and
	// small values); see Write.
	bo.MemTableSize = 4 << 20
	// One active plus one being flushed: enough to not stall writes while a
	// flush runs, without holding 5 arenas like the default.
	bo.NumMemtables = 2
	// Decompressed SST blocks; the working set is the recent log, small.
	bo.BlockCacheSize = 16 << 20
	// Bounds memory used by table indexes and bloom filters; with 0 (the
	// default) every table's index stays in memory without limit.
	bo.IndexCacheSize = 8 << 20
	// Value-log files are GC'd a whole file at a time, so smaller files let
	// RunGC give space back sooner; 64 MB still rotates rarely. The active
	// file is mmapped at twice this size (sparse).
	bo.ValueLogFileSize = 64 << 20
	// Values below 64 KB stay in the LSM tree, which compaction shrinks as
	// soon as the log below a stable checkpoint is deleted; only snapshot
	// chunks go to the value log, whose space comes back only when GC
	// rewrites a whole file. With a 1 KB threshold every pre-prepare batch
	// went to the value log, and a 4-replica run's directory grew from 1.8 MB
	// at 5,000 operations to 6.2 MB at 20,000 before the active file filled;
	// with 64 KB it stays flat (1.5 MB, then 0.8 MB). Must stay below 15% of
	// MemTableSize, Badger's largest batch.
	bo.ValueThreshold = 64 << 10
	// The minimum Badger accepts apart from 0 (which disables compaction and
	// with it the discard statistics value-log GC relies on).
	bo.NumCompactors = 2
	// Compact L0 early: deletions only turn into reclaimable value-log space
	// (discard stats) when compaction drops the deleted versions, and fewer
	// L0 tables mean fewer tables per lookup.
	bo.NumLevelZeroTables = 2
	// Stall writers only well past the compaction trigger.
	bo.NumLevelZeroTablesStall = 8
	// L1 target and SST size: small tables for a small tree (defaults 10 MB
	// and 2 MB are already modest; kept explicit).
	bo.BaseLevelSize = 10 << 20
	bo.BaseTableSize = 2 << 20
	// Only used by Badger's Stream framework (backup/flatten); keep it tiny.
	bo.NumGoroutines = 2
	// Metrics register process-global expvars keyed by directory; the
	// replica reports its own sizes through DB.Size.
	bo.MetricsEnabled = false
	// Writes are serialised by this package (see Write), so conflict
	// detection would only cost memory for read-key fingerprints.
	bo.DetectConflicts = false
	// Cheap and effective on keys and protobuf framing; needs the block
	// cache, which is set above.
	bo.Compression = options.Snappy
	// Only the newest version of a key is ever read.
	bo.NumVersionsToKeep = 1

	bo.Logger = newSlogAdapter(opts.Logger, fault)
	if opts.tune != nil {
		opts.tune(&bo)
	}
	return bo
}
