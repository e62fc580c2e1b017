//go:build linux

package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fallocate is the system call; a variable so a test can make it fail.
var fallocate = unix.Fallocate

// preallocate allocates [off, off+n) of f with fallocate mode 0, which also
// moves the file's size to off+n; the new space reads as zeros. It returns
// errNoPrealloc when the file system or kernel has no fallocate
// (EOPNOTSUPP, the same number as ENOTSUP on Linux; ENOSYS).
func preallocate(f *os.File, off, n int64) error {
	for {
		err := fallocate(int(f.Fd()), 0, off, n)
		switch {
		case errors.Is(err, unix.EINTR):
			continue // a signal arrived; nothing was lost, try again
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return errNoPrealloc
		}
		return err
	}
}
