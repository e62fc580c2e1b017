package storage

import (
	"encoding/binary"
	"os"
	"testing"
)

// crash leaves db as a killed process would: the protocol log's files are
// closed without the seal that cuts the current segment's preallocated end.
func crash(t *testing.T, db *DB) {
	t.Helper()
	db.log.mu.Lock()
	for _, f := range db.log.segs {
		f.Close()
	}
	db.log.segs, db.log.cur = nil, nil
	db.log.mu.Unlock()
	must(t, db.Close())
}

// currentSegment is the path of the segment db appends to.
func currentSegment(db *DB) string {
	db.log.mu.Lock()
	defer db.log.mu.Unlock()
	return db.log.cur.Name()
}

// frameStarts parses a segment's frames up to a zero header or the end of
// the data and returns where each starts, and where the data ends.
func frameStarts(t *testing.T, data []byte) (starts []int, end int) {
	t.Helper()
	for end+frameHeaderLen <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[end:]))
		if n == 0 {
			break
		}
		if end+frameHeaderLen+n > len(data) {
			t.Fatalf("frame at %d of %d bytes runs past the segment's %d", end, n, len(data))
		}
		starts = append(starts, end)
		end += frameHeaderLen + n
	}
	return starts, end
}

func fileSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	return int(fi.Size())
}

// withZeroTail makes sure a crashed segment ends in zeros after its data,
// as preallocation leaves it, whether or not the file system preallocated.
func withZeroTail(t *testing.T, seg string) {
	t.Helper()
	data, err := os.ReadFile(seg)
	must(t, err)
	if _, end := frameStarts(t, data); len(data)-end < 64<<10 {
		must(t, os.Truncate(seg, int64(end+64<<10)))
	}
}

// Zeros after the newest segment's frames (preallocated, never written) are
// the end of the data: opening keeps every record and cuts the zeros; the
// writes after it are read back, after another crash and after a close.
func TestProtoLogZeroTailIsTheEnd(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	a := Record{Kind: KindPrepare, Sequence: 1, Data: []byte("a")}
	b := Record{Kind: KindPrepare, Sequence: 2, Data: pattern(3000, 2)}
	mustWrite(t, db, true, a)
	mustWrite(t, db, true, b)
	seg := currentSegment(db)
	crash(t, db)
	withZeroTail(t, seg)
	data, err := os.ReadFile(seg)
	must(t, err)
	_, end := frameStarts(t, data)

	db = openDir(t, dir)
	if err := recordsEqual(mustLoad(t, db), []Record{a, b}); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
	if size := fileSize(t, seg); size != end {
		t.Fatalf("the crashed segment is %d bytes after opening, want its frames' %d", size, end)
	}
	c := Record{Kind: KindPrepare, Sequence: 3, Data: []byte("c")}
	mustWrite(t, db, true, c)
	seg = currentSegment(db)
	crash(t, db)
	withZeroTail(t, seg)

	db = openDir(t, dir)
	if err := recordsEqual(mustLoad(t, db), []Record{a, b, c}); err != nil {
		t.Fatalf("after writing on and crashing again: %v", err)
	}
	must(t, db.Close())
	db = openDir(t, dir)
	defer db.Close()
	if err := recordsEqual(mustLoad(t, db), []Record{a, b, c}); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

// A crash in the middle of writing pages can leave a frame intact after a
// torn or still-zero one. Opening cuts the newest segment at the bad frame,
// the intact one after it included: it never comes back, not after newer
// writes of its key either (an old record replayed after newer ones), and
// its segment, no longer the newest, is not corrupt.
func TestProtoLogStaleFrameBeyondTornIsGone(t *testing.T) {
	for _, damage := range []string{"zeroed", "torn"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			db := openDir(t, dir)
			a := Record{Kind: KindPrepare, Sequence: 1, Data: []byte("a")}
			b := Record{Kind: KindPrepare, Sequence: 2, Data: pattern(5000, 2)}
			c := Record{Kind: KindCommit, Sequence: 3, Data: []byte("stale c")}
			mustWrite(t, db, true, a)
			mustWrite(t, db, true, b)
			mustWrite(t, db, true, c)
			seg := currentSegment(db)
			crash(t, db)
			data, err := os.ReadFile(seg)
			must(t, err)
			starts, _ := frameStarts(t, data)
			if len(starts) != 3 {
				t.Fatalf("%d frames, want 3", len(starts))
			}
			bad := data[starts[1]:starts[2]]
			if damage == "torn" {
				bad = bad[frameHeaderLen+len(bad)/2:] // its later pages never written
			}
			clear(bad)
			must(t, os.WriteFile(seg, data, 0o600))

			db = openDir(t, dir)
			if err := recordsEqual(mustLoad(t, db), []Record{a}); err != nil {
				t.Fatalf("after the crash: %v", err)
			}
			if size := fileSize(t, seg); size != starts[1] {
				t.Fatalf("the crashed segment is %d bytes after opening, want %d, up to the bad frame", size, starts[1])
			}
			d := c
			d.Data = []byte("new d")
			mustWrite(t, db, true, d)
			must(t, db.Close())
			db = openDir(t, dir)
			defer db.Close()
			if err := recordsEqual(mustLoad(t, db), []Record{a, d}); err != nil {
				t.Fatalf("after writing the stale record's key again: %v", err)
			}
		})
	}
}

// A segment that is not the newest holds exactly its frames: zeros in it,
// a zero header included, are corruption, not the end of its data.
func TestProtoLogOldSegmentZerosAreCorrupt(t *testing.T) {
	for _, damage := range []string{"zero header", "zeroed frame", "zero tail"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			db := openDir(t, dir)
			mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 1, Data: []byte("a")})
			mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 2, Data: []byte("b")})
			seg := currentSegment(db)
			must(t, db.Close())
			db = openDir(t, dir)
			mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 3, Data: []byte("c")})
			must(t, db.Close())

			data, err := os.ReadFile(seg)
			must(t, err)
			starts, end := frameStarts(t, data)
			if len(starts) != 2 || end != len(data) {
				t.Fatalf("old segment: %d frames ending at %d of %d bytes, want 2 filling it", len(starts), end, len(data))
			}
			switch damage {
			case "zero header":
				clear(data[starts[1] : starts[1]+frameHeaderLen])
			case "zeroed frame":
				clear(data[starts[1]:])
			case "zero tail":
				data = append(data, make([]byte, 4096)...)
			}
			must(t, os.WriteFile(seg, data, 0o600))
			mustFindCorrupt(t, dir, "zeros in an older segment")
		})
	}
}

// Every segment but the current one is cut to its frames when it stops
// being current, at a deletion as at a close, and a crash right after a
// deletion loses nothing.
func TestProtoLogSealedSegmentsHoldOnlyFrames(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	view := Record{Kind: KindView, View: 1, Data: []byte("view")}
	mustWrite(t, db, true, view)
	for s := uint64(1); s <= 30; s++ {
		mustWrite(t, db, s%2 == 0, Record{Kind: KindPrePrepare, Sequence: s, Data: pattern(700, byte(s))})
		if s%10 == 0 {
			must(t, db.DeleteBelow(s-5))
			cur := currentSegment(db)
			for _, seg := range segments(t, dir) {
				if seg == cur {
					continue
				}
				data, err := os.ReadFile(seg)
				must(t, err)
				if starts, end := frameStarts(t, data); len(starts) == 0 || end != len(data) {
					t.Fatalf("after the deletion below %d, %s: %d frames ending at %d of %d bytes", s-5, seg, len(starts), end, len(data))
				}
			}
		}
	}
	crash(t, db)
	db = openDir(t, dir)
	want := []Record{view}
	for s := uint64(25); s <= 30; s++ {
		want = append(want, Record{Kind: KindPrePrepare, Sequence: s, Data: pattern(700, byte(s))})
	}
	if err := recordsEqual(mustLoad(t, db), want); err != nil {
		t.Fatalf("after a crash: %v", err)
	}
	must(t, db.Close())
	for _, seg := range segments(t, dir) {
		data, err := os.ReadFile(seg)
		must(t, err)
		if _, end := frameStarts(t, data); end != len(data) {
			t.Fatalf("after the close, %s: frames end at %d of %d bytes", seg, end, len(data))
		}
	}
}
