//go:build !linux

package storage

import "os"

// preallocate: elsewhere than Linux the log does not preallocate, and
// appends grow the segment as they go.
func preallocate(*os.File, int64, int64) error { return errNoPrealloc }
