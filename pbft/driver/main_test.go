package driver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every driver, client and store a test starts must be gone when it ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
