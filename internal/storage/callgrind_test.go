package storage

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCallgrindStorage runs a fixed count of synced protocol-log writes of
// a typical Ready (benchBatch: a 4 KB pre-prepare, a prepare and a commit)
// for docs/perf-instructions.sh to count instructions of under valgrind:
// BULWARK_CALLGRIND_STORAGE=count, or count:setup for the same set-up
// without the writes, which the script subtracts. The log alone: Badger's
// background goroutines would make the count wander. The kernel's work
// (write, fdatasync) is not counted.
func TestCallgrindStorage(t *testing.T) {
	spec := os.Getenv("BULWARK_CALLGRIND_STORAGE")
	if spec == "" {
		t.Skip("run by docs/perf-instructions.sh under valgrind")
	}
	count, setup, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		t.Fatalf("count %q: want a positive number", count)
	}
	l, err := openProtoLog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	batches := make([][]Record, n)
	for i := range n {
		batches[i] = benchBatch(uint64(i + 1))
	}
	if setup == "setup" {
		return
	}
	for _, b := range batches {
		if err := l.write(b, true); err != nil {
			t.Fatal(err)
		}
	}
}
