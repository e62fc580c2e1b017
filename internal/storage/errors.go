package storage

import "errors"

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("storage: closed")
	// ErrCorrupt means stored bytes do not have the expected shape.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrNoSnapshot means no complete snapshot exists at the asked sequence.
	ErrNoSnapshot = errors.New("storage: no such snapshot")
	// ErrChunkIndex means a snapshot chunk index is out of range.
	ErrChunkIndex = errors.New("storage: snapshot chunk index out of range")
	// ErrStaleSnapshot means PutSnapshot was given a sequence below the
	// latest complete snapshot's: stable checkpoints only move forward.
	ErrStaleSnapshot = errors.New("storage: snapshot older than the stored one")
	// ErrKind means Write was given a kind it does not store.
	ErrKind = errors.New("storage: kind not writable")
)
