package network

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: Close must
// stop every writer, reader and libp2p goroutine it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
