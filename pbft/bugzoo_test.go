//go:build bugzoo

package pbft_test

import (
	"testing"

	"github.com/bulwark-bft/bulwark/internal/bugzoo"
)

// TestMain switches on the variant BULWARK_BUG names, so the bug zoo
// (internal/sim TestBugZoo) can run this package's tests against it.
func TestMain(m *testing.M) { bugzoo.Main(m) }
