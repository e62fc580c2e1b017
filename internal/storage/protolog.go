package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The protocol log: Write's records go to append-only segment files made
// durable with fdatasync, not to Badger, which keeps the snapshots. A
// synced Badger commit msyncs its memtable's mmapped write-ahead log and
// later rewrites the records in flushes and compactions; the log writes each
// record once, and a record deleted below a checkpoint is never read again.
// Side by side on the 2-core development machine (`bulwark bench`, n=4, 256
// clients), a prototype of it against Badger: 8,826/7,521, 9,464/7,637 and
// 8,103/7,292 requests/s; one client's p50 2.98/3.47, 2.88/3.64, 3.21/3.85 ms.
//
// A segment is a sequence of frames, [length:4][crc32c:4][payload]. A
// payload is one Write (its records, all or none: atomic) or one deletion
// below a sequence number (DeleteBelow's marker, so a deletion survives a
// restart even while the deleted records' segment does). Opening reads every
// segment in order and keeps, per key, the last record written (Badger's
// overwrite semantics); a torn or corrupt frame at the end of the newest
// segment is a write a crash interrupted, which nothing synced followed,
// and is cut off. Anywhere else it is corruption.
//
// Space for the current segment is preallocated (prealloc.go; fallocate on
// Linux, 4 MiB at a time), and frames are written into it at the data end:
// an fdatasync after an append that grows the file must also commit the new
// size. On the 2-core development machine (ext4 in a VM) an fdatasync after
// a 600-byte append took 135 µs (median) growing the file, 92 µs into
// fallocated space (98 µs into space written with zeros), and three such
// syncs lie on each request's path. A frame of a block or more gains less:
// the first write into each block of fallocated space turns its extent from
// unwritten to written, a change the sync must commit too. Measured there,
// alternating rounds of 2,000 synced writes, medians (the machine was shared
// and noisy): WriteSync, 4.5 KB frames, 207 → 194 µs in one series of 5 and
// 177 → 176 in another of 6, no gain to speak of; the same loop with
// 600-byte frames 153 → 112 and 132 → 102 µs. (Space written with zeros
// ahead would spare the extent change too, at about 10 ms to write and sync
// each 4 MiB, and a raw fdatasync after a 4.5 KB write was faster into it.)
// Where the file system has no fallocate, or elsewhere than Linux, appends
// grow the file as before.
//
// So the newest segment may end in zeros: there a zero header is the end of
// the data. Opening cuts the newest segment at its data end (the zeros, a
// torn frame, and whatever follows them: see cutTail) before writing on in
// a new one. A segment that stops being current (rotation, close) is cut to
// its frames and synced before the next is created, so one that is not the
// newest holds exactly its frames, and a zero header or zeros in it are
// corruption like any other damage.
//
// Segments start at each deletion. At a deletion the segments before the
// last one go: their records still live (a view record written long ago, a
// record above the checkpoint) are written again in the new segment first.
// A segment is removed only with every one before it, so no deletion marker
// goes while the records it deleted remain.

const (
	protoLogDir     = "protocol-log"
	segmentSuffix   = ".seg"
	frameHeaderLen  = 8
	maxFrameLen     = 1 << 30
	frameRecords    = 1
	frameDeleteBase = 2
	// maxSegmentBytes starts a new segment when one grows past it even
	// without a deletion (a replica that never checkpoints).
	maxSegmentBytes = 256 << 20
	// maxKeptFrame bounds the frame buffer kept between writes.
	maxKeptFrame = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logLoc is where the latest value of a key lies.
type logLoc struct {
	seg      uint64
	off      int64 // of the value in the segment file
	n        int   // value length
	kind     Kind
	sequence uint64
}

// protoLog is the protocol log of one store. Its methods expect mu held
// (the store takes it).
type protoLog struct {
	mu       sync.Mutex
	dir      string
	segs     map[uint64]*os.File // open segments, for reading
	cur      *os.File
	curID    uint64
	curSize  int64 // the end of the current segment's frames
	unsynced bool
	index    map[string]logLoc
	live     map[uint64]int // live records per segment
	buf      []byte         // the last frame's, reused
	// alloc is the current segment's file size, past curSize when it is
	// preallocated (prealloc.go); noPrealloc once the file system refused.
	alloc      int64
	noPrealloc bool
	// err is sticky: after a failed write or sync nothing the page cache
	// holds can be trusted to reach the disk.
	err error
}

func segmentName(id uint64) string { return fmt.Sprintf("%016x%s", id, segmentSuffix) }

// openProtoLog opens (creating) the log in dir/protocol-log and reads it.
func openProtoLog(dir string) (*protoLog, error) {
	l := &protoLog{dir: filepath.Join(dir, protoLogDir), segs: make(map[uint64]*os.File), index: make(map[string]logLoc), live: make(map[uint64]int)}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create the protocol log: %w", err)
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: read the protocol log: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		var id uint64
		if name, ok := strings.CutSuffix(e.Name(), segmentSuffix); ok {
			if _, err := fmt.Sscanf(name, "%016x", &id); err == nil && segmentName(id) == e.Name() {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		if err := l.readSegment(id, i == len(ids)-1); err != nil {
			l.close()
			return nil, err
		}
	}
	next := uint64(1)
	if len(ids) > 0 {
		next = ids[len(ids)-1] + 1
	}
	if err := l.startSegment(next); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// readSegment applies one segment's frames to the index. In the newest the
// data ends at a zero header (preallocated space never written) or a bad
// frame, and everything from there to the file's end is cut off.
func (l *protoLog) readSegment(id uint64, newest bool) error {
	path := filepath.Join(l.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	l.segs[id] = f
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var header [frameHeaderLen]byte
	for {
		payload, err := readFrame(r, header[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if !newest {
				return fmt.Errorf("%w: protocol log %s at %d: %v", ErrCorrupt, path, off, err)
			}
			return cutTail(f, path, off)
		}
		if err := l.apply(id, off+frameHeaderLen, payload); err != nil {
			return fmt.Errorf("protocol log %s at %d: %w", path, off, err)
		}
		off += frameHeaderLen + int64(len(payload))
	}
}

// cutTail truncates the newest segment at end, where its data ends, and
// makes that durable. Not only the torn frame or the zeros there go, but
// whatever lies after them: a crash in the middle of a write of several
// pages can leave a later frame intact after a torn or still-zero earlier
// one, and appends go on after the data end (here in a new segment), so a
// stale frame kept beyond it would be read back on a later open, an old
// record after newer ones, or make this segment, no longer the newest,
// corrupt.
func cutTail(f *os.File, path string, end int64) error {
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("storage: cut %s after its last frame: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s after cutting it: %w", path, err)
	}
	return nil
}

// errZeroHeader is a frame header of zeros: in the newest segment, the
// preallocated space after the last frame; elsewhere, corruption.
var errZeroHeader = errors.New("zero frame header")

// readFrame reads one frame's payload; io.EOF at a clean end.
func readFrame(r io.Reader, header []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, header); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("torn frame header: %w", err)
	}
	n := binary.LittleEndian.Uint32(header)
	if n == 0 && binary.LittleEndian.Uint32(header[4:]) == 0 {
		return nil, errZeroHeader
	}
	if n == 0 || n > maxFrameLen {
		return nil, fmt.Errorf("frame length %d", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("torn frame: %w", err)
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(header[4:]) {
		return nil, errors.New("frame checksum mismatch")
	}
	return payload, nil
}

// apply indexes one frame's payload, which starts at off in segment seg.
func (l *protoLog) apply(seg uint64, off int64, payload []byte) error {
	switch payload[0] {
	case frameDeleteBase:
		if len(payload) != 9 {
			return fmt.Errorf("%w: deletion frame of %d bytes", ErrCorrupt, len(payload))
		}
		l.deleteBelow(binary.LittleEndian.Uint64(payload[1:]))
		return nil
	case frameRecords:
	default:
		return fmt.Errorf("%w: frame type %d", ErrCorrupt, payload[0])
	}
	for p := 1; p < len(payload); {
		k, v, next, err := recordAt(payload, p)
		if err != nil {
			return err
		}
		r, err := decodeRecord(k, v)
		if err != nil {
			return err
		}
		l.set(string(k), logLoc{seg: seg, off: off + int64(next-len(v)), n: len(v), kind: r.Kind, sequence: r.Sequence})
		p = next
	}
	return nil
}

// recordAt decodes the record at p of a payload: [klen uvarint][k][vlen uvarint][v].
func recordAt(payload []byte, p int) (k, v []byte, next int, err error) {
	kl, n := binary.Uvarint(payload[p:])
	if n <= 0 || kl > uint64(len(payload)-p-n) {
		return nil, nil, 0, fmt.Errorf("%w: record key length at %d", ErrCorrupt, p)
	}
	p += n
	k, p = payload[p:p+int(kl)], p+int(kl)
	vl, n := binary.Uvarint(payload[p:])
	if n <= 0 || vl > uint64(len(payload)-p-n) {
		return nil, nil, 0, fmt.Errorf("%w: record value length at %d", ErrCorrupt, p)
	}
	p += n
	return k, payload[p : p+int(vl)], p + int(vl), nil
}

func (l *protoLog) set(k string, loc logLoc) {
	if old, ok := l.index[k]; ok {
		l.live[old.seg]--
	}
	l.index[k] = loc
	l.live[loc.seg]++
}

// deleteBelow drops from the index every record below seq but the view.
func (l *protoLog) deleteBelow(seq uint64) {
	for k, loc := range l.index {
		if loc.kind != KindView && loc.sequence < seq {
			delete(l.index, k)
			l.live[loc.seg]--
		}
	}
}

// startSegment makes id the segment appended to.
func (l *protoLog) startSegment(id uint64) error {
	path := filepath.Join(l.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	l.segs[id], l.cur, l.curID, l.curSize, l.alloc = f, f, id, 0, 0
	return syncDir(l.dir)
}

// syncDir makes a directory's entries (files created or removed) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", dir, err)
	}
	return nil
}

// appendFrame writes one frame to the current segment: frame's first
// frameHeaderLen bytes are for the header, the rest is the payload. With
// sync it, and everything before it, is durable when it returns. It returns
// the payload's offset in the segment.
func (l *protoLog) appendFrame(frame []byte, sync bool) (off int64, err error) {
	if l.err != nil {
		return 0, l.err
	}
	payload := frame[frameHeaderLen:]
	binary.LittleEndian.PutUint32(frame, uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	off = l.curSize + frameHeaderLen
	end := l.curSize + int64(len(frame))
	if err := l.reserve(end); err != nil {
		return 0, err
	}
	// At curSize, not at the file's end, which preallocation put further.
	if _, err := l.cur.WriteAt(frame, l.curSize); err != nil {
		l.err = fmt.Errorf("storage: append to the protocol log: %w", err)
		return 0, l.err
	}
	l.curSize = end
	l.alloc = max(l.alloc, end)
	l.unsynced = true
	if sync {
		if err := l.sync(); err != nil {
			return 0, err
		}
	}
	return off, nil
}

// sync makes everything appended durable.
func (l *protoLog) sync() error {
	if l.err != nil {
		return l.err
	}
	if !l.unsynced {
		return nil
	}
	if err := fdatasync(l.cur); err != nil {
		l.err = fmt.Errorf("storage: sync the protocol log: %w", err)
		return l.err
	}
	l.unsynced = false
	return nil
}

// write appends recs as one atomic frame.
func (l *protoLog) write(recs []Record, sync bool) error {
	if len(recs) == 0 {
		return nil
	}
	type placed struct {
		k, v     []byte
		kind     Kind
		sequence uint64
		at       int
	}
	places := make([]placed, len(recs))
	size := frameHeaderLen + 1
	for i, r := range recs {
		k, v := encodeRecord(r)
		places[i] = placed{k: k, v: v, kind: r.Kind, sequence: r.Sequence}
		size += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	// One buffer, kept for the next frame: a batch of large requests is
	// written without growing a slice through its size.
	if cap(l.buf) < size || cap(l.buf) > maxKeptFrame && size <= maxKeptFrame {
		l.buf = make([]byte, 0, size)
	}
	frame := append(l.buf[:frameHeaderLen], frameRecords)
	for i := range places {
		p := &places[i]
		frame = binary.AppendUvarint(frame, uint64(len(p.k)))
		frame = append(frame, p.k...)
		frame = binary.AppendUvarint(frame, uint64(len(p.v)))
		p.at = len(frame) - frameHeaderLen
		frame = append(frame, p.v...)
	}
	off, err := l.appendFrame(frame, sync)
	if err != nil {
		return err
	}
	for _, p := range places {
		l.set(string(p.k), logLoc{seg: l.curID, off: off + int64(p.at), n: len(p.v), kind: p.kind, sequence: p.sequence})
	}
	if l.curSize > maxSegmentBytes {
		return l.rotate()
	}
	return nil
}

// rotate seals the current segment (durable, cut to its frames) and starts
// the next.
func (l *protoLog) rotate() error {
	if err := l.seal(); err != nil {
		return err
	}
	if err := l.startSegment(l.curID + 1); err != nil {
		l.err = err
		return err
	}
	return nil
}

// deleteRecordsBelow durably deletes every record below seq but the view,
// then removes the segments before the last one, writing their live records
// again first.
func (l *protoLog) deleteRecordsBelow(seq uint64) error {
	var frame [frameHeaderLen + 9]byte
	frame[frameHeaderLen] = frameDeleteBase
	binary.LittleEndian.PutUint64(frame[frameHeaderLen+1:], seq)
	// Unsynced: seal makes it durable, in the one sync it needs anyway to
	// cut the segment's preallocated end; rotate then has nothing to sync.
	if _, err := l.appendFrame(frame[:], false); err != nil {
		return err
	}
	if err := l.seal(); err != nil {
		return err
	}
	l.deleteBelow(seq)
	last := l.curID
	if err := l.rotate(); err != nil {
		return err
	}
	var old []uint64
	for id := range l.segs {
		if id < last {
			old = append(old, id)
		}
	}
	if len(old) == 0 {
		return nil
	}
	slices.Sort(old)
	if err := l.rewriteLive(old); err != nil {
		return err
	}
	for _, id := range old {
		l.segs[id].Close()
		delete(l.segs, id)
		delete(l.live, id)
		if err := os.Remove(filepath.Join(l.dir, segmentName(id))); err != nil {
			l.err = fmt.Errorf("storage: remove an old protocol log segment: %w", err)
			return l.err
		}
	}
	return syncDir(l.dir)
}

// rewriteLive writes the live records of the given segments again, in one
// synced frame in the current segment.
func (l *protoLog) rewriteLive(segs []uint64) error {
	recs, err := l.records(func(loc logLoc) bool { return slices.Contains(segs, loc.seg) })
	if err != nil || len(recs) == 0 {
		return err
	}
	return l.write(recs, true)
}

// records returns the live records for which keep holds, in key order.
func (l *protoLog) records(keep func(logLoc) bool) ([]Record, error) {
	keys := make([]string, 0, len(l.index))
	for k, loc := range l.index {
		if keep(loc) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	recs := make([]Record, 0, len(keys))
	for _, k := range keys {
		loc := l.index[k]
		v := make([]byte, loc.n)
		if _, err := l.segs[loc.seg].ReadAt(v, loc.off); err != nil {
			return nil, fmt.Errorf("storage: read the protocol log: %w", err)
		}
		r, err := decodeRecord([]byte(k), v)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// close closes the segment files; the current one is sealed first.
func (l *protoLog) close() error {
	var err error
	if l.cur != nil {
		err = l.seal()
	}
	for _, f := range l.segs {
		f.Close()
	}
	l.segs = nil
	return err
}
