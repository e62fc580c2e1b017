package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a run leaves a goroutine behind: clients,
// replicas, the unreplicated server and their hosts must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
