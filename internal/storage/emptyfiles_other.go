//go:build windows || plan9 || js || wasip1 || aix

package storage

// lockDir: where Badger takes no flock on its directory, empty files are
// left for Badger to report.
func lockDir(string) (unlock func(), ok bool, err error) { return nil, false, nil }
