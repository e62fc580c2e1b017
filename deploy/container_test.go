package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// testBudget bounds the test once the binary and the image are built:
// cluster, faults and convergence (teardown has its own deadlines).
const testBudget = 3 * time.Minute

// TestComposeCluster builds the image from Dockerfile, starts compose.yaml's
// four replicas, cuts a backup off the network and kills the primary in
// turn, and checks that every client operation completes with the right
// result and that the replicas converge afterwards. It skips only where no
// Docker engine runs.
func TestComposeCluster(t *testing.T) {
	skipWithoutDocker(t)
	start := time.Now()
	c := setUp(t)
	t.Logf("set up in %v: project %s, network %s.0/24, image %s", time.Since(start).Round(time.Millisecond), c.project, c.prefix, c.image)
	ctx, cancel := context.WithTimeout(t.Context(), testBudget)
	defer cancel()

	c.compose(ctx, "up", "-d")
	sts := c.waitStatus(ctx, "all four replicas answer in view 0", func(sts []replicaStatus) bool {
		return all(sts, func(s replicaStatus) bool { return s.Reachable && s.View == 0 })
	})
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))

	// The command-line client against the containers, as an operator would.
	c.cli(ctx, "ok", "client", "--cluster", c.clusterFile, "put", "hello", "world")
	c.cli(ctx, "world", "client", "--cluster", c.clusterFile, "get", "hello")
	w := c.newWorkload(ctx)
	w.model["hello"] = "world"
	w.run(ctx, "warmup", 20)

	// A backup cut off: the other three go on, past two checkpoints (about
	// 2.4 intervals of ordered operations; gets are answered unordered), so
	// the log it misses is garbage collected and it needs state transfer.
	interval := c.info.File.Protocol.CheckpointInterval
	primary := sts[0].Primary
	cut := (primary + 3) % 4
	cutCtr := c.container(ctx, cut)
	c.docker(ctx, "network", "disconnect", c.network, cutCtr)
	phase := time.Now()
	isolatedOps := int(3 * interval)
	w.run(ctx, "isolated", isolatedOps)
	sts = c.waitStatus(ctx, fmt.Sprintf("replica %d unreachable while cut off", cut), func(sts []replicaStatus) bool {
		return !sts[cut].Reachable
	})
	t.Logf("replica %d cut off: %d operations in %v; %v", cut, isolatedOps, time.Since(phase).Round(time.Millisecond), sts)
	c.docker(ctx, "network", "connect", "--ip", c.ip(cut), c.network, cutCtr)
	phase = time.Now()
	others := sts[(cut+1)%4]
	sts = c.waitStatus(ctx, fmt.Sprintf("replica %d catches up to last executed %d", cut, others.LastExecuted), converged)
	if sts[cut].StableCheckpoint < 2*interval {
		t.Errorf("replica %d: stable checkpoint %d after catching up, want >= %d", cut, sts[cut].StableCheckpoint, 2*interval)
	}
	t.Logf("replica %d reconnected and caught up in %v: %v", cut, time.Since(phase).Round(time.Millisecond), sts[cut])

	// The primary killed: a view change, and operations complete in the new view.
	primary = sts[0].Primary
	primaryCtr := c.container(ctx, primary)
	c.docker(ctx, "kill", primaryCtr)
	phase = time.Now()
	view := w.run(ctx, "primary-killed", 30)
	if view == 0 {
		t.Errorf("operations completed in view 0 with primary %d killed", primary)
	}
	sts = c.waitStatus(ctx, "the three live replicas agree on a view above 0", func(sts []replicaStatus) bool {
		return liveAgree(sts, primary)
	})
	t.Logf("primary %d killed: 30 operations in %v, now view %d", primary, time.Since(phase).Round(time.Millisecond), sts[(primary+1)%4].View)

	// The killed replica restarts from its volume and rejoins.
	c.compose(ctx, "start", service(primary))
	phase = time.Now()
	w.run(ctx, "restarted", 20)
	sts = c.waitStatus(ctx, fmt.Sprintf("replica %d rejoins: all four in one view, same last executed and state digest", primary), converged)
	t.Logf("replica %d restarted and converged in %v: %v", primary, time.Since(phase).Round(time.Millisecond), sts)
	w.run(ctx, "rejoined", 20)
	w.verifyAll(ctx)

	// Finally the operator's view: bulwark status --json. The replica that
	// was not needed for the last replies may still be executing them.
	var final []replicaStatus
	for try := 0; ; try++ {
		out := c.cli(ctx, "", "status", "--cluster", c.clusterFile, "--json")
		if err := json.Unmarshal([]byte(out), &final); err != nil {
			t.Fatalf("bulwark status --json: %v\n%s", err, out)
		}
		if converged(final) && final[0].View > 0 {
			break
		}
		if try == 4 {
			t.Fatalf("bulwark status --json: replicas have not converged in a view above 0: %v", final)
		}
		time.Sleep(time.Second)
	}
	t.Logf("all converged at view %d, last executed %d; %d operations checked; whole test %v",
		final[0].View, final[0].LastExecuted, w.ops, time.Since(start).Round(time.Millisecond))
}

// composeCluster is one compose project of the test.
type composeCluster struct {
	t           *testing.T
	composeCmd  []string
	composeYML  string   // absolute path of compose.yaml
	env         []string // BULWARK_* for compose.yaml
	project     string
	prefix      string // first three octets of the network
	image       string
	bin         string // the bulwark binary built for the image, run on the host too
	dir         string // the testnet directory
	clusterFile string
	network     string // Docker's name of the project's network, once known
	info        *bulwark.Cluster
}

// setUp builds the binary and the image, writes the testnet, and registers
// the teardown. Everything it starts is removed on every path.
func setUp(t *testing.T) *composeCluster {
	ctx := t.Context()
	composeCmd, err := composeCommand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c := &composeCluster{
		t: t, composeCmd: composeCmd, composeYML: filepath.Join(here, "compose.yaml"),
		project: fmt.Sprintf("bulwark-ct-%d", os.Getpid()),
	}
	c.image = c.project + ":test"

	// The binary, static, alone in the build context.
	buildDir := t.TempDir()
	c.bin = filepath.Join(buildDir, "bulwark")
	if _, err := runCmd(ctx, buildTimeout, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", c.bin, "../cmd/bulwark"); err != nil {
		t.Fatalf("building the binary: %v", err)
	}
	_, err = runCmd(ctx, dockerTimeout, nil, "docker", "build", "--file", filepath.Join(here, "Dockerfile"), "--tag", c.image, buildDir)
	if err != nil {
		c.cleanupImage() // a build cut short by its deadline may still tag it
		t.Fatalf("building the image: %v", err)
	}
	t.Cleanup(c.cleanupImage)

	c.prefix, err = freeSubnet(ctx, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	c.dir = filepath.Join(t.TempDir(), "net")
	hosts := make([]string, 4)
	for i := range hosts {
		hosts[i] = c.ip(uint32(i))
	}
	c.cli(ctx, "", "testnet", "--replicas", "4", "--dir", c.dir, "--hosts", strings.Join(hosts, ","))
	c.clusterFile = filepath.Join(c.dir, "cluster.json")

	// The replicas run as the image's user, who must own their directories
	// (keys are 0600); without root here, run them as this user instead
	// (rootless Docker: as the container's root, which is this user).
	uid, gid := imageUser, imageUser
	rootless, err := rootlessDocker(ctx)
	switch {
	case err != nil:
		t.Fatal(err)
	case rootless:
		uid, gid = 0, 0
	case os.Geteuid() == 0:
		for i := range 4 {
			if err := chownTree(filepath.Join(c.dir, fmt.Sprintf("replica-%d", i)), imageUser, imageUser); err != nil {
				t.Fatal(err)
			}
		}
	default:
		uid, gid = os.Getuid(), os.Getgid()
	}
	c.env = []string{
		"BULWARK_IMAGE=" + c.image, "BULWARK_NET=" + c.dir, "BULWARK_PREFIX=" + c.prefix,
		"BULWARK_UID=" + strconv.Itoa(uid), "BULWARK_GID=" + strconv.Itoa(gid),
		"BULWARK_RESTART=no", // the test restarts the killed replica itself
		"COMPOSE_PROJECT_NAME=" + c.project,
	}
	// Registered after the image's removal, so it runs before it; logs are
	// printed before the containers go.
	t.Cleanup(func() {
		c.cleanupCmd(c.composeCmd[0], c.composeArgs("down", "--volumes", "--remove-orphans", "--timeout", "5")...)
	})
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.cleanupCmd(c.composeCmd[0], c.composeArgs("logs", "--no-color", "--timestamps", "--tail", "300")...)
			t.Logf("container logs:\n%s", out)
		}
	})

	if c.info, err = bulwark.Load(c.clusterFile); err != nil {
		t.Fatal(err)
	}
	return c
}

// cleanupImage removes the image the test built, if it is there.
func (c *composeCluster) cleanupImage() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTime)
	defer cancel()
	if _, err := runCmd(ctx, probeTimeout, nil, "docker", "image", "inspect", c.image); err != nil {
		return
	}
	c.cleanupCmd("docker", "image", "rm", "--force", c.image)
}

// cleanupCmd runs a teardown command on its own deadline (the test's context
// is already cancelled when cleanups run) and reports a failure.
func (c *composeCluster) cleanupCmd(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTime)
	defer cancel()
	out, err := runCmd(ctx, cleanupTime, c.env, name, args...)
	if err != nil {
		c.t.Errorf("teardown: %v", err)
	}
	return out, err
}

func (c *composeCluster) ip(id uint32) string { return fmt.Sprintf("%s.%d", c.prefix, 10+id) }

func service(id uint32) string { return fmt.Sprintf("replica-%d", id) }

// composeArgs are the arguments, after the command's name, of a compose
// subcommand on the project.
func (c *composeCluster) composeArgs(args ...string) []string {
	return append(append(slices.Clip(c.composeCmd[1:]), "-f", c.composeYML, "-p", c.project), args...)
}

// compose runs a compose subcommand on the project; failing is fatal.
func (c *composeCluster) compose(ctx context.Context, args ...string) string {
	c.t.Helper()
	out, err := runCmd(ctx, dockerTimeout, c.env, c.composeCmd[0], c.composeArgs(args...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// docker runs a docker command; failing is fatal.
func (c *composeCluster) docker(ctx context.Context, args ...string) string {
	c.t.Helper()
	out, err := runCmd(ctx, dockerTimeout, nil, "docker", args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// container is the id of replica id's container; the first call also learns
// the project network's name.
func (c *composeCluster) container(ctx context.Context, id uint32) string {
	c.t.Helper()
	ctr := strings.TrimSpace(c.compose(ctx, "ps", "-q", service(id)))
	if ctr == "" || strings.Contains(ctr, "\n") {
		c.t.Fatalf("compose ps -q %s: %q, want one container id", service(id), ctr)
	}
	if c.network == "" {
		nets := strings.Fields(c.docker(ctx, "inspect", "--format",
			"{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}", ctr))
		if len(nets) != 1 {
			c.t.Fatalf("container %s is on networks %v, want one", ctr, nets)
		}
		c.network = nets[0]
	}
	return ctr
}

// cli runs the built bulwark binary on the host; with want set, its output
// must be that line.
func (c *composeCluster) cli(ctx context.Context, want string, args ...string) string {
	c.t.Helper()
	out, err := runCmd(ctx, dockerTimeout, nil, c.bin, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	if want != "" && out != want+"\n" {
		c.t.Fatalf("bulwark %s: printed %q, want %q", strings.Join(args, " "), out, want+"\n")
	}
	return out
}

// waitStatus polls the replicas' status until cond holds, and fails the test
// with the last answers if it does not within the test's deadline or a
// minute. Each wait connects afresh, like `bulwark status`: a long-lived
// connection to a killed replica is not known to be dead until it times out
// (about 30 seconds), so a restarted replica would look unreachable to it.
func (c *composeCluster) waitStatus(ctx context.Context, what string, cond func([]replicaStatus) bool) []replicaStatus {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	probe, err := newStatusProbe(ctx, c.info)
	if err != nil {
		c.t.Fatal(err)
	}
	defer probe.host.Close()
	var sts []replicaStatus
	for {
		sts = probe.poll(ctx, time.Second)
		if cond(sts) {
			return sts
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting until %s: %v; last status: %v", what, ctx.Err(), sts)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func all(sts []replicaStatus, f func(replicaStatus) bool) bool {
	for _, s := range sts {
		if !f(s) {
			return false
		}
	}
	return true
}

// converged: every replica answers, in one view, not changing views, with
// the same last executed, stable checkpoint and state digest.
func converged(sts []replicaStatus) bool {
	return all(sts, func(s replicaStatus) bool {
		f := sts[0]
		return s.Reachable && !s.ViewChanging && s.View == f.View && s.LastExecuted == f.LastExecuted &&
			s.StableCheckpoint == f.StableCheckpoint && s.StateDigest == f.StateDigest
	})
}

// liveAgree: every replica but dead answers, in one view above 0 that is not
// dead's, not changing views.
func liveAgree(sts []replicaStatus, dead uint32) bool {
	ref := sts[(dead+1)%uint32(len(sts))]
	return all(sts, func(s replicaStatus) bool {
		return s.ID == dead || s.Reachable && !s.ViewChanging && s.View == ref.View && s.View > 0 && s.Primary != dead
	})
}

// workload runs key-value operations through one long-lived client and
// checks every result against a model of the store.
type workload struct {
	t     *testing.T
	cl    *bulwark.Client
	model map[string]string
	ops   int
}

func (c *composeCluster) newWorkload(ctx context.Context) *workload {
	c.t.Helper()
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	cl, err := bulwark.Dial(ctx, c.info, key, 1, quietLogger)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return &workload{t: c.t, cl: cl, model: make(map[string]string)}
}

// opTimeout bounds one operation: enough for a view change or two.
const opTimeout = 30 * time.Second

// run performs n operations named after phase (puts, gets of earlier keys,
// compare-and-swaps that must and must not swap, deletes) and returns the
// view of the last reply.
func (w *workload) run(ctx context.Context, phase string, n int) uint64 {
	w.t.Helper()
	var view uint64
	for i := range n {
		key := fmt.Sprintf("%s-%d", phase, i%17)
		val := fmt.Sprintf("%s-v%d", phase, i)
		switch {
		case i%5 == 4:
			view = w.get(ctx, fmt.Sprintf("%s-%d", phase, (i*7)%17))
		case i%7 == 6:
			view = w.cas(ctx, key, w.model[key], val) // swaps, also when the key is absent
		case i%11 == 10:
			view = w.cas(ctx, key, "never-"+val, val)
		case i%13 == 12:
			view = w.del(ctx, key)
		default:
			view = w.put(ctx, key, val)
		}
	}
	return view
}

// check runs op and fails the test unless the result is want.
func (w *workload) check(ctx context.Context, what string, op []byte, readOnly bool, want kv.Result) uint64 {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	start := time.Now()
	call := w.cl.Do
	if readOnly {
		call = w.cl.Read
	}
	res, err := call(ctx, op)
	if err != nil {
		w.t.Fatalf("%s: no quorum of matching replies after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
	}
	got, err := kv.DecodeResult(res.Result)
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	if got.Status != want.Status || string(got.Value) != string(want.Value) {
		w.t.Fatalf("%s: result %v %q, want %v %q", what, got.Status, got.Value, want.Status, want.Value)
	}
	w.ops++
	return res.View
}

func (w *workload) put(ctx context.Context, k, v string) uint64 {
	view := w.check(ctx, "put "+k+" "+v, kv.EncodePut([]byte(k), []byte(v)), false, kv.Result{Status: kv.StatusOK})
	w.model[k] = v
	return view
}

func (w *workload) get(ctx context.Context, k string) uint64 {
	want := kv.Result{Status: kv.StatusNotFound}
	if v, ok := w.model[k]; ok {
		want = kv.Result{Status: kv.StatusOK, Value: []byte(v)}
	}
	return w.check(ctx, "get "+k, kv.EncodeGet([]byte(k)), true, want)
}

func (w *workload) del(ctx context.Context, k string) uint64 {
	view := w.check(ctx, "del "+k, kv.EncodeDelete([]byte(k)), false, kv.Result{Status: kv.StatusOK})
	delete(w.model, k)
	return view
}

// cas swaps k from old to v; an empty old means k is absent.
func (w *workload) cas(ctx context.Context, k, old, v string) uint64 {
	cur, ok := w.model[k]
	want := kv.Result{Status: kv.StatusUnchanged, Value: []byte(cur)}
	if (old == "" && !ok) || (old != "" && ok && cur == old) {
		want = kv.Result{Status: kv.StatusSwapped}
	}
	view := w.check(ctx, fmt.Sprintf("cas %s %q %s", k, old, v), kv.EncodeCAS([]byte(k), []byte(old), []byte(v)), false, want)
	if want.Status == kv.StatusSwapped {
		w.model[k] = v
	}
	return view
}

// verifyAll reads back every key the model holds.
func (w *workload) verifyAll(ctx context.Context) {
	w.t.Helper()
	for k := range w.model {
		w.get(ctx, k)
	}
}
