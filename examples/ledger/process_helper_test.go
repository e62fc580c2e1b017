package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAsLedger, set in a child's environment, makes the test binary run as the
// ledger command: the test starts replica processes of exactly the code under
// test without a separate `go build`.
const runAsLedger = "LEDGER_TEST_RUN_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runAsLedger) == "1" {
		main() // exits non-zero itself on an error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ledgerCommand is the ledger command with args, as a child process.
func ledgerCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), runAsLedger+"=1")
	return cmd
}

// runLedger runs the command to completion and returns its stdout.
func runLedger(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	cmd := ledgerCommand(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() }) // our own child
	defer stop()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ledger %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// replicas are the replica processes of one testnet, by id.
type replicas struct {
	t    *testing.T
	path string // cluster.json
	cur  []*replicaProc
	all  []*replicaProc // every incarnation, for cleanup
}

type replicaProc struct {
	id   int
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned, err then set
	err  error
}

func startReplicas(t *testing.T, path string, n int) *replicas {
	rs := &replicas{t: t, path: path, cur: make([]*replicaProc, n)}
	t.Cleanup(rs.cleanup)
	for id := range n {
		rs.start(id)
	}
	return rs
}

// start runs replica id, again if it ran before: same key, same data
// directory. Its stderr is appended to replica-ID.log beside the cluster
// file.
func (rs *replicas) start(id int) {
	rs.t.Helper()
	log, err := os.OpenFile(rs.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer log.Close() // the child has its own descriptor
	fmt.Fprintf(log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := ledgerCommand(rs.t, "replica", "-cluster", rs.path, "-id", strconv.Itoa(id))
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		rs.t.Fatalf("start replica %d: %v", id, err)
	}
	p := &replicaProc{id: id, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	rs.cur[id] = p
	rs.all = append(rs.all, p)
}

func (rs *replicas) logPath(id int) string {
	return filepath.Join(filepath.Dir(rs.path), fmt.Sprintf("replica-%d.log", id))
}

// kill sends SIGKILL to replica id's process, which this test started, and
// waits for it to die: no chance to flush or close anything.
func (rs *replicas) kill(id int) int {
	rs.t.Helper()
	p := rs.cur[id]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		rs.t.Fatalf("kill replica %d (pid %d): %v", id, p.cmd.Process.Pid, err)
	}
	<-p.done
	return p.cmd.Process.Pid
}

// cleanup stops every process still running with SIGTERM, the way an
// operator does, and SIGKILL if it takes over five seconds. A replica that
// exited early or uncleanly, other than by our SIGKILL, fails the test; on
// failure every replica's log is printed.
func (rs *replicas) cleanup() {
	for _, p := range rs.all {
		select {
		case <-p.done:
			if p.err != nil && !killed(p.err) {
				rs.t.Errorf("replica %d (pid %d) exited early: %v", p.id, p.cmd.Process.Pid, p.err)
			}
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				rs.t.Errorf("replica %d (pid %d) did not stop cleanly: %v", p.id, p.cmd.Process.Pid, p.err)
			}
		case <-time.After(5 * time.Second):
			rs.t.Errorf("replica %d (pid %d) still running 5s after SIGTERM; killing it", p.id, p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if rs.t.Failed() {
		for id := range rs.cur {
			if b, err := os.ReadFile(rs.logPath(id)); err == nil {
				rs.t.Logf("replica %d stderr:\n%s", id, tail(b, 40))
			}
		}
	}
}

// killed reports whether err is a process ended by SIGKILL.
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
