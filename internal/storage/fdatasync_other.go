//go:build !linux

package storage

import "os"

// fdatasync makes f durable; elsewhere than Linux, with a full sync.
func fdatasync(f *os.File) error { return f.Sync() }
