package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A process killed between Badger's creating a memtable or value-log file
// and sizing it leaves the file empty, and badger v4.9.6 then refuses to
// open the directory ("while opening fid: N err: Create a new file",
// dgraph-io/badger#2207). TestPowerCuts met it: a replica SIGKILLed while
// it started could not start again. Open removes such files; they can hold
// nothing, since Badger writes a file only after sizing it.
func TestOpenAfterCrashLeftEmptyFiles(t *testing.T) {
	for _, ext := range []string{".mem", ".vlog"} {
		format := "%05d" + ext // Badger's names
		if ext == ".vlog" {
			format = "%06d" + ext
		}
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			db := openDir(t, dir)
			recs := []Record{{Kind: KindPrePrepare, Sequence: 5, View: 2, Data: pattern(3000, 9)}}
			mustWrite(t, db, true, recs...)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// The file Badger would create next: one above the highest id.
			next := 0
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if name, ok := strings.CutSuffix(e.Name(), ext); ok {
					if id, err := strconv.Atoi(name); err == nil {
						next = max(next, id+1)
					}
				}
			}
			empty := filepath.Join(dir, fmt.Sprintf(format, next))
			if err := os.WriteFile(empty, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			db = openDir(t, dir)
			defer db.Close()
			if err := recordsEqual(mustLoad(t, db), recs); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, db, true, Record{Kind: KindCommit, Sequence: 5, View: 2, Replica: 1, Data: []byte("c")})
			if fi, err := os.Stat(empty); err == nil && fi.Size() == 0 {
				t.Fatalf("%s is still empty", empty)
			}
		})
	}
}

// The cleanup leaves alone the directory of a store another process (here:
// another DB) has open: a file it just created may be empty for a moment.
func TestEmptyFilesOfAnOpenStoreStay(t *testing.T) {
	_, dir := openTemp(t) // open until the test ends
	empty := filepath.Join(dir, "99999.mem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeEmptyLogFiles(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(empty); err != nil {
		t.Fatalf("the empty file of an open store was touched: %v", err)
	}
	if err := os.Remove(empty); err != nil {
		t.Fatal(err)
	}
}
