//go:build !bugzoo

package pbft

// bug is false in every real build: the protocol has no switch to break it.
func bug(Bug) bool { return false }

// BugZooEnabled reports whether this build can switch bugs on (go test
// -tags bugzoo).
const BugZooEnabled = false

// SetBug is a no-op without the bugzoo build tag.
func SetBug(Bug) {}
