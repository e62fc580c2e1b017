//go:build bugzoo

package pbft

import (
	"fmt"
	"os"
	"testing"
)

// TestMain switches on the variant BULWARK_BUG names, so the bug zoo
// (pbft/sim TestBugZoo) can run this package's tests against it.
func TestMain(m *testing.M) {
	if name := os.Getenv("BULWARK_BUG"); name != "" {
		b, ok := ParseBug(name)
		if !ok {
			fmt.Fprintf(os.Stderr, "BULWARK_BUG=%q: no such variant\n", name)
			os.Exit(2)
		}
		SetBug(b)
	}
	os.Exit(m.Run())
}
