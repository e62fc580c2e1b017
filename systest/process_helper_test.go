package systest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// buildBulwark builds this package's binary into dir and returns its path.
func buildBulwark(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goTool, err = exec.LookPath(filepath.Join(os.Getenv("GOROOT"), "bin", "go"))
	}
	if err != nil {
		t.Fatalf("no go command to build the binary with: %v", err)
	}
	bin := filepath.Join(dir, "bulwark")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/bulwark-bft/bulwark/cmd/bulwark")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procCluster is a 4-replica testnet on free loopback ports whose replicas
// run as separate `bulwark replica` processes of the built binary.
type procCluster struct {
	t     *testing.T
	bin   string
	path  string // cluster.json
	c     *bulwark.Cluster
	extra map[int][]string // flags per replica id
	procs []*replicaProc   // by id; the latest incarnation
	all   []*replicaProc   // every process started, for cleanup
}

// replicaProc is one replica process; its stderr goes to logPath.
type replicaProc struct {
	id      int
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once Wait returned
	err     error         // Wait's result, valid after done
}

// startProcCluster writes the testnet and starts the four replicas with the
// extra flags given per id. At cleanup every process still running is
// stopped and waited for, and when the test failed each replica's log is
// printed.
func startProcCluster(t *testing.T, bin string, extra map[int][]string) *procCluster {
	t.Helper()
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	path, err := testnet.WriteTestnet(t.TempDir(), testnet.Loopback(len(ports)), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	pc := &procCluster{t: t, bin: bin, path: path, c: c, extra: extra, procs: make([]*replicaProc, 4)}
	t.Cleanup(pc.cleanup)
	for i := range 4 {
		pc.start(i)
	}
	return pc
}

// start runs replica id (again), appending its stderr to its log file.
func (pc *procCluster) start(id int) *replicaProc {
	pc.t.Helper()
	logPath := filepath.Join(filepath.Dir(pc.path), fmt.Sprintf("replica-%d.log", id))
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		pc.t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	fmt.Fprintf(logFile, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	args := append([]string{"replica", "--cluster", pc.path, "--id", strconv.Itoa(id), "--log-level", "info"}, pc.extra[id]...)
	cmd := exec.Command(pc.bin, args...)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		pc.t.Fatalf("start replica %d: %v", id, err)
	}
	p := &replicaProc{id: id, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	pc.procs[id] = p
	pc.all = append(pc.all, p)
	return p
}

func (p *replicaProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to replica id's process and waits for it to die.
func (pc *procCluster) kill(id int) {
	pc.t.Helper()
	p := pc.procs[id]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		pc.t.Fatalf("kill replica %d (pid %d): %v", id, p.cmd.Process.Pid, err)
	}
	<-p.done
}

// cleanup stops every process this cluster started: SIGTERM, then SIGKILL
// for one that has not stopped within five seconds. A replica that exited
// on its own before the end, or failed to stop cleanly, fails the test.
func (pc *procCluster) cleanup() {
	for _, p := range pc.all {
		if p.exited() {
			if p.err != nil && !killed(p.err) {
				pc.t.Errorf("replica %d (pid %d) exited early: %v", p.id, p.cmd.Process.Pid, p.err)
			}
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				pc.t.Errorf("replica %d (pid %d) did not stop cleanly on SIGTERM: %v", p.id, p.cmd.Process.Pid, p.err)
			}
		case <-time.After(5 * time.Second):
			pc.t.Errorf("replica %d (pid %d) still running 5s after SIGTERM; killing it", p.id, p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if pc.t.Failed() {
		for _, p := range pc.procs { // a log file holds every incarnation
			if b, err := os.ReadFile(p.logPath); err == nil {
				pc.t.Logf("replica %d stderr:\n%s", p.id, tail(b, 64))
			}
		}
	}
}

// killed reports whether err is a process ended by SIGKILL (ours).
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// tail is the first lines and the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	const head = 12 // how it started: addresses, admission, the first warnings
	if len(lines) > head+n {
		lines = slices.Concat(lines[:head], []string{fmt.Sprintf("[... %d lines]", len(lines)-head-n)}, lines[len(lines)-n:])
	}
	return strings.Join(lines, "\n")
}

// bulwark runs the binary with args against this cluster and returns its
// stdout; a non-zero exit is an error carrying its stderr.
func (pc *procCluster) bulwark(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pc.bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("bulwark %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// clientOp runs `bulwark client` with one operation and checks that it
// exits 0 printing want.
func (pc *procCluster) clientOp(ctx context.Context, want string, op ...string) {
	pc.t.Helper()
	out, err := pc.bulwark(ctx, append([]string{"client", "--cluster", pc.path, "--timeout", "20s"}, op...)...)
	if err != nil || out != want+"\n" {
		pc.t.Fatalf("bulwark client %v: %q, %v; want %q", op, out, err, want+"\n")
	}
}

// status runs `bulwark status --json` and parses its output.
func (pc *procCluster) status(ctx context.Context) []replicaStatus {
	pc.t.Helper()
	out, err := pc.bulwark(ctx, "status", "--cluster", pc.path, "--json", "--timeout", "2s")
	if err != nil {
		pc.t.Fatal(err)
	}
	var sts []replicaStatus
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != pc.c.N() {
		pc.t.Fatalf("status --json printed %q: %v", out, err)
	}
	for i, st := range sts {
		if st.ID != uint32(i) {
			pc.t.Fatalf("status --json: entry %d has id %d", i, st.ID)
		}
	}
	return sts
}

// waitStatus polls status until ok accepts it, for at most timeout; poke,
// if set, runs between polls (to give the cluster something to order).
func (pc *procCluster) waitStatus(ctx context.Context, what string, timeout time.Duration, ok func([]replicaStatus) bool, poke func()) []replicaStatus {
	pc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sts := pc.status(ctx)
		if ok(sts) {
			return sts
		}
		if time.Now().After(deadline) {
			pc.t.Fatalf("status never showed %s within %v; last: %+v", what, timeout, sts)
		}
		if poke != nil {
			poke()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// converged reports whether the replicas ids are reachable, out of a view
// change and at one executed sequence number (above 0) and state digest.
func converged(sts []replicaStatus, ids ...int) bool {
	first := sts[ids[0]]
	for _, id := range ids {
		st := sts[id]
		if !st.Reachable || st.ViewChanging || st.LastExecuted == 0 || st.View != first.View ||
			st.LastExecuted != first.LastExecuted || st.StateDigest != first.StateDigest {
			return false
		}
	}
	return true
}

// dial connects a Go client with the given number of sessions and a fresh
// key; it is closed at cleanup.
func (pc *procCluster) dial(ctx context.Context, sessions int) *bulwark.Client {
	pc.t.Helper()
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		pc.t.Fatal(err)
	}
	cl, err := bulwark.Dial(ctx, pc.c, key, sessions, slog.New(slog.DiscardHandler))
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { cl.Close() })
	return cl
}

// kvDo runs one key-value operation through a Go client and decodes the
// agreed result.
func kvDo(ctx context.Context, cl *bulwark.Client, op []byte, readOnly bool) (kv.Result, error) {
	call := cl.Do
	if readOnly {
		call = cl.Read
	}
	res, err := call(ctx, op)
	if err != nil {
		return kv.Result{}, err
	}
	return kv.DecodeResult(res.Result)
}

// checkedPuts writes prefix-i = value-i for i in [from, to) over the client's
// sessions, then reads each back, and fails the test on any wrong result.
func checkedPuts(ctx context.Context, t *testing.T, cl *bulwark.Client, prefix string, from, to int) {
	t.Helper()
	errs := make(chan error, to-from)
	for i := from; i < to; i++ {
		go func() {
			k, v := fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("value-%d", i)
			r, err := kvDo(ctx, cl, kv.EncodePut([]byte(k), []byte(v)), false)
			if err == nil && r.Status != kv.StatusOK {
				err = fmt.Errorf("status %v", r.Status)
			}
			if err != nil {
				errs <- fmt.Errorf("put %s: %w", k, err)
				return
			}
			r, err = kvDo(ctx, cl, kv.EncodeGet([]byte(k)), true)
			if err == nil && (r.Status != kv.StatusOK || string(r.Value) != v) {
				err = fmt.Errorf("got %v %q, want %q", r.Status, r.Value, v)
			}
			if err != nil {
				errs <- fmt.Errorf("get %s: %w", k, err)
				return
			}
			errs <- nil
		}()
	}
	for i := from; i < to; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// memory is a process's resident set and its peak, from /proc, and how
// much of the resident set is anonymous memory (the Go heap, stacks) and how
// much file pages (Badger's memory-mapped files, which the kernel reclaims
// at will).
type memory struct{ rss, hwm, anon, file int64 } // bytes

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB (anonymous %.1f, file %.1f), VmHWM %.1f MiB", mib(m.rss), mib(m.anon), mib(m.file), mib(m.hwm))
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// memoryOf reads VmRSS and VmHWM of pid from /proc/PID/status.
func memoryOf(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM" && name != "RssAnon" && name != "RssFile") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("/proc/%d/status: %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status: %q: %w", pid, sc.Text(), err)
		}
		switch name {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, err
	}
	if m.rss == 0 || m.hwm == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return m, nil
}
