package storage

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// stubFallocate makes fallocate fail with errno (counting its calls) for
// the rest of the test.
func stubFallocate(t *testing.T, errno error) *int {
	calls := new(int)
	orig := fallocate
	fallocate = func(int, uint32, int64, int64) error { *calls++; return errno }
	t.Cleanup(func() { fallocate = orig })
	return calls
}

// The current segment is allocated a chunk at a time, more when a frame
// needs it, and cut to its frames at the close.
func TestProtoLogPreallocates(t *testing.T) {
	db := openDir(t, t.TempDir())
	mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 1, Data: []byte("a")})
	l := db.log
	if l.noPrealloc {
		db.Close()
		t.Skip("the file system of the test's directory has no fallocate")
	}
	seg := currentSegment(db)
	fi, err := os.Stat(seg)
	must(t, err)
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512; fi.Size() != preallocChunk || blocks < preallocChunk {
		t.Fatalf("segment of %d bytes, %d allocated, after a small write; want %d", fi.Size(), blocks, preallocChunk)
	}
	mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 2, Data: pattern(preallocChunk+1000, 2)})
	if fileSize(t, seg) != 2*preallocChunk || l.alloc != 2*preallocChunk || l.curSize <= preallocChunk {
		t.Fatalf("after a frame past the chunk: %d bytes, allocated %d, data %d; want %d allocated", fileSize(t, seg), l.alloc, l.curSize, 2*preallocChunk)
	}
	end := int(l.curSize)
	must(t, db.Close())
	if size := fileSize(t, seg); size != end {
		t.Fatalf("after the close the segment is %d bytes, want its frames' %d", size, end)
	}
}

// Where the file system has no fallocate the log appends as it did before
// preallocation, trying it only once.
func TestProtoLogFallocateUnsupported(t *testing.T) {
	calls := stubFallocate(t, unix.EOPNOTSUPP)
	dir := t.TempDir()
	db := openDir(t, dir)
	var want []Record
	for s := uint64(1); s <= 3; s++ {
		r := Record{Kind: KindPrepare, Sequence: s, Data: pattern(3000, byte(s))}
		want = append(want, r)
		mustWrite(t, db, true, r)
		if size := fileSize(t, currentSegment(db)); int64(size) != db.log.curSize {
			t.Fatalf("write %d: the segment is %d bytes, its frames %d", s, size, db.log.curSize)
		}
	}
	if *calls != 1 {
		t.Fatalf("fallocate called %d times, want once", *calls)
	}
	crash(t, db)
	db = openDir(t, dir)
	defer db.Close()
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatal(err)
	}
}

// Any other failure to preallocate fails the write, and every write after
// it, as a failed write does; what was written before stays.
func TestProtoLogFallocateFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	a := Record{Kind: KindPrepare, Sequence: 1, Data: []byte("a")}
	mustWrite(t, db, true, a)
	if db.log.noPrealloc {
		db.Close()
		t.Skip("the file system of the test's directory has no fallocate")
	}
	stubFallocate(t, unix.ENOSPC)
	big := Record{Kind: KindPrepare, Sequence: 2, Data: pattern(preallocChunk+1, 2)}
	if err := db.Write([]Record{big}, true); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("write past the allocation: %v, want ENOSPC", err)
	}
	if err := db.Write([]Record{{Kind: KindPrepare, Sequence: 3}}, true); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("write after the failure: %v, want ENOSPC again", err)
	}
	if err := db.Close(); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("close after the failure: %v, want ENOSPC", err)
	}
	db = openDir(t, dir)
	defer db.Close()
	if err := recordsEqual(mustLoad(t, db), []Record{a}); err != nil {
		t.Fatal(err)
	}
}
