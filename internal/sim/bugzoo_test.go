//go:build bugzoo

package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/internal/bugzoo"
	"github.com/bulwark-bft/bulwark/pbft"
)

// TestMain switches on the variant BULWARK_BUG names (see TestBugZoo).
func TestMain(m *testing.M) { bugzoo.Main(m) }

// zooSeeds is how many simulator seeds (n = 4; a quarter as many at n = 7)
// each variant faces in CI; BULWARK_ZOO_SEEDS raises it.
const zooSeeds = 150

// TestBugZoo runs the protocol's test suite, the core's rule and
// interaction tests, the random simulation and the Twins and small-scope
// mutation suites (in their -short sizes), and the driver's persistence
// order test, against every deliberately
// broken variant (pbft.Bugs), each in its own `go test` process, and fails
// if a variant survives. It reports which tests caught each variant and at
// which simulator seed.
//
//	go test -tags bugzoo ./internal/sim -run BugZoo -v
func TestBugZoo(t *testing.T) {
	if os.Getenv("BULWARK_BUG") != "" {
		t.Skip("running inside the zoo against one variant")
	}
	if testing.Short() {
		t.Skip("the bug zoo runs the suite once per variant")
	}
	seeds := envUint(t, "BULWARK_ZOO_SEEDS", zooSeeds)
	for _, b := range pbft.Bugs() {
		t.Run(b.String(), func(t *testing.T) {
			// The suites run in turn until one catches the variant: the zoo
			// asks only that some suite does, and running the simulator's
			// against variants the rule tests already caught took most of
			// CI's time for the zoo. BULWARK_ZOO_ALL=1 runs all three.
			all := os.Getenv("BULWARK_ZOO_ALL") != ""
			unit := zooRun(t, b, seeds, "./pbft")
			sim, drv := zooResult{}, zooResult{}
			if all || !unit.caught {
				sim = zooRun(t, b, seeds, "./internal/sim", "-short",
					"-run", "^(TestSimulation|TestTwinsEnumeratedN4|TestTwinsSampledN7|TestSmallScopeMutation)$")
			}
			if all || !unit.caught && !sim.caught {
				drv = zooRun(t, b, seeds, "./internal/driver", "-run", "^TestDriverPersistsBeforeSending$")
			}
			if !unit.caught && !sim.caught && !drv.caught {
				t.Fatalf("variant %s survived the rule tests, %d simulator seeds, Twins, small-scope mutation and the driver's persistence order test", b, seeds)
			}
			t.Logf("caught: rule and interaction tests %s; simulator suites %s; driver order test %s", unit, sim, drv)
		})
	}
}

// zooResult is what one suite run against a variant found.
type zooResult struct {
	ran    bool // false: skipped, an earlier suite caught the variant
	caught bool
	failed []string // the top-level tests that failed
	seed   string   // the first simulator seed that failed
}

func (r zooResult) String() string {
	if !r.ran {
		return "not run"
	}
	if !r.caught {
		return "passed (missed it)"
	}
	s := "failed " + strings.Join(r.failed, ", ")
	if r.seed != "" {
		s += " at " + r.seed
	}
	return s
}

var (
	failLine = regexp.MustCompile(`(?m)^--- FAIL: (\S+)`)
	seedLine = regexp.MustCompile(`seed (\d+) \(n=(\d+)\)`)
)

func zooRun(t *testing.T, b pbft.Bug, seeds uint64, pkg string, args ...string) zooResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-tags", "bugzoo", "-count=1", pkg}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "BULWARK_BUG="+b.String(), fmt.Sprintf("BULWARK_SIM_SEEDS=%d", seeds))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s against %s: timed out", pkg, b)
	}
	if err == nil {
		return zooResult{ran: true}
	}
	r := zooResult{ran: true, caught: true}
	for _, m := range failLine.FindAllStringSubmatch(out.String(), -1) {
		if !strings.Contains(m[1], "/") {
			r.failed = append(r.failed, m[1])
		}
	}
	if len(r.failed) == 0 {
		t.Fatalf("%s against %s failed without a failing test (build error?):\n%s", pkg, b, out.String())
	}
	if m := seedLine.FindStringSubmatch(out.String()); m != nil {
		r.seed = fmt.Sprintf("seed %s of n=%s", m[1], m[2])
	}
	return r
}
