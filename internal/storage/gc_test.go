package storage

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// smallFiles shrinks Badger's files so value-log GC can be exercised with a
// few megabytes instead of the production 64 MB value-log files.
func smallFiles(bo *badger.Options) {
	bo.ValueLogFileSize = 1 << 20
	bo.MemTableSize = 1 << 20
	bo.BaseTableSize = 256 << 10
	bo.BaseLevelSize = 1 << 20
	bo.ValueThreshold = 1 << 10 // so the test's records exercise the value log
}

// TestGCKeepsDirectoryBounded runs many checkpoint cycles: write a window
// of value-log sized records, delete everything below it, run GC. Without
// deletion plus GC the value log grows by every byte written; with them the
// directory must stay within a small multiple of one window.
func TestGCKeepsDirectoryBounded(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, tune: smallFiles})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const (
		cycles    = 40
		perCycle  = 200  // records per checkpoint window
		valueSize = 4096 // above ValueThreshold: lands in the value log
	)
	var seq uint64
	var written, peakLate int64
	sizes := make([]int64, 0, cycles)
	for c := range cycles {
		for range perCycle / 20 {
			recs := make([]Record, 20)
			for i := range recs {
				seq++
				recs[i] = Record{Kind: KindCommitted, Sequence: seq, Data: pattern(valueSize, byte(seq))}
			}
			mustWrite(t, db, false, recs...)
			written += int64(len(recs) * valueSize)
		}
		if err := db.PutSnapshot(seq, pattern(8192, byte(c)), 2048); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteBelow(seq + 1); err != nil {
			t.Fatal(err)
		}
		if err := db.RunGC(t.Context()); err != nil {
			t.Fatal(err)
		}
		size := dirUsage(t, dir)
		sizes = append(sizes, size>>10)
		if c >= cycles/2 {
			peakLate = max(peakLate, size)
		}
	}
	t.Logf("written %d MB in %d cycles; directory KB after each cycle: %v", written>>20, cycles, sizes)

	// One window is 0.8 MB of values; allow a few value-log files (1 MB
	// each) of slack for the active file, files awaiting GC, the memtable
	// WALs and Badger's fixed files. Without GC the directory reaches the
	// ~32 MB written.
	const bound = 8 << 20
	if peakLate > bound {
		t.Fatalf("directory grew to %d bytes in the second half (bound %d; %d written)", peakLate, bound, written)
	}
	if recs := mustLoad(t, db); len(recs) != 0 {
		t.Fatalf("%d records survived DeleteBelow", len(recs))
	}
}

// dirUsage is the disk space of every file under dir, like du.
func dirUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += diskUsage(info)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func TestSizeReportsFiles(t *testing.T) {
	db, _ := openTemp(t)
	mustWrite(t, db, true, Record{Kind: KindCommitted, Sequence: 1, Data: pattern(64<<10, 1)})
	if lsm, vlog := db.Size(); vlog < 64<<10 || lsm < 0 {
		t.Fatalf("Size = %d, %d after writing a 64 KB value", lsm, vlog)
	}
}
