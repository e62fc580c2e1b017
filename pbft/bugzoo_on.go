//go:build bugzoo

package pbft

// activeBug is set before any replica runs (the zoo's tests set it between
// runs, never during one), so plain reads from several goroutines are safe.
var activeBug Bug

// SetBug switches the process's replicas to variant b (NoBug: the real
// protocol). Only the bug zoo's tests call it, between runs.
func SetBug(b Bug) { activeBug = b }

func bug(b Bug) bool { return activeBug == b }
