//go:build !bugzoo

package pbft

// bug is false in every real build: the protocol has no switch to break it.
func bug(Bug) bool { return false }

// SetBug is a no-op without the bugzoo build tag.
func SetBug(Bug) {}
