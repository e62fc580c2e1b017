//go:build !windows && !plan9 && !js && !wasip1 && !aix

package storage

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes the lock Badger takes on its directory (an exclusive,
// non-blocking flock on the directory itself). ok is false when another
// process holds it.
func lockDir(dir string) (unlock func(), ok bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, fmt.Errorf("storage: open %q: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("storage: lock %q: %w", dir, err)
	}
	return func() { f.Close() }, true, nil // closing the descriptor releases the lock
}
