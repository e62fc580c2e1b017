package storage

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable, and of its metadata only what reading
// the data back needs (its size), skipping the timestamps a sync would
// also write.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
