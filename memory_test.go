package bulwark

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMemoryPolicyFollowsTheReplicas: each replica running adds its limit
// to the process's soft memory limit, and stopping it takes it back; a
// negative limit leaves the runtime alone.
func TestMemoryPolicyFollowsTheReplicas(t *testing.T) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Skip("GOMEMLIMIT is set: it wins over the policy")
	}
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	a := holdMemoryPolicy(0)
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit {
		t.Fatalf("one replica: limit %d, want %d", got, DefaultMemoryLimit)
	}
	b := holdMemoryPolicy(100 << 20)
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit+100<<20 {
		t.Fatalf("two replicas: limit %d, want %d", got, DefaultMemoryLimit+100<<20)
	}
	none := holdMemoryPolicy(-1)
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit+100<<20 {
		t.Fatalf("a replica that leaves the runtime alone changed the limit to %d", got)
	}
	none()
	b()
	b() // twice: once only
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit {
		t.Fatalf("after one stopped: limit %d, want %d", got, DefaultMemoryLimit)
	}
	a()
	if memoryPolicy.running != 0 {
		t.Fatalf("%d replicas still counted", memoryPolicy.running)
	}
}
