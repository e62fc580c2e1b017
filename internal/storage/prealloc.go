package storage

import (
	"errors"
	"fmt"
)

// preallocChunk is how far the allocation of the current segment grows at
// a time (more when one frame needs more): an fdatasync then commits a
// change of the file's size once per chunk, not after every append. (On
// ext4 the first write into each block of fallocated space still changes
// an extent, unwritten to written, for the sync to commit: a frame of a
// block or more gains less than a small one; see protolog.go.)
const preallocChunk = 4 << 20

// errNoPrealloc means the platform or the file system cannot preallocate.
var errNoPrealloc = errors.New("storage: preallocation not supported")

// reserve makes the current segment's allocation reach end, the data end
// after the next append. Where preallocation is not supported the log falls
// back, for good, to appends that grow the file. Any other failure is sticky,
// as a failed write is.
func (l *protoLog) reserve(end int64) error {
	if l.noPrealloc || end <= l.alloc {
		return nil
	}
	n := (end - l.alloc + preallocChunk - 1) / preallocChunk * preallocChunk
	switch err := preallocate(l.cur, l.alloc, n); {
	case err == nil:
		l.alloc += n
	case errors.Is(err, errNoPrealloc):
		l.noPrealloc = true
	default:
		l.err = fmt.Errorf("storage: preallocate %d bytes of the protocol log at %d: %w", n, l.alloc, err)
		return l.err
	}
	return nil
}

// seal makes the current segment durable and, if it was preallocated past
// its data, cuts it to its frames, so that a segment which is not the
// newest holds exactly its frames and anything else in it is corruption.
// It runs before the next segment is created: a crash before the cut is
// durable leaves this segment the newest, whose zero tail opening cuts.
func (l *protoLog) seal() error {
	if l.err != nil {
		return l.err
	}
	if l.alloc <= l.curSize {
		return l.sync()
	}
	if err := l.cur.Truncate(l.curSize); err != nil {
		l.err = fmt.Errorf("storage: cut the preallocated end of the protocol log: %w", err)
		return l.err
	}
	// fsync, not fdatasync: the size shrank, and it must be durable along
	// with the data before the next segment exists.
	if err := l.cur.Sync(); err != nil {
		l.err = fmt.Errorf("storage: sync the protocol log: %w", err)
		return l.err
	}
	l.alloc, l.unsynced = l.curSize, false
	return nil
}
