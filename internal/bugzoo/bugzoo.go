// Package bugzoo switches on the deliberately broken protocol variant that
// BULWARK_BUG names (see pbft.Bug), for test binaries built with the bugzoo
// tag: the zoo (internal/sim TestBugZoo) runs whole test packages against each.
package bugzoo

import (
	"fmt"
	"os"

	"github.com/bulwark-bft/bulwark/pbft"
)

// FromEnv switches on the variant BULWARK_BUG names, if any. Without the
// bugzoo build tag it changes nothing.
func FromEnv() error {
	name := os.Getenv("BULWARK_BUG")
	if name == "" {
		return nil
	}
	b, ok := pbft.ParseBug(name)
	if !ok {
		return fmt.Errorf("BULWARK_BUG=%q: no such variant", name)
	}
	pbft.SetBug(b)
	return nil
}

// Main is a TestMain body: it switches on the variant, then runs the tests.
func Main(m interface{ Run() int }) {
	if err := FromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
