package driver_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bulwark-bft/bulwark/internal/bugzoo"
)

// Every driver, client and store a test starts must be gone when it ends.
// Under the bugzoo tag, BULWARK_BUG switches on a broken variant first.
func TestMain(m *testing.M) {
	if err := bugzoo.FromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}
