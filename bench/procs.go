package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

// processes is a cluster of `bulwark replica` processes on loopback, each
// serving its metrics so the harness can read its view, CPU time,
// allocations and signature counts.
type processes struct {
	c       *bulwark.Cluster
	cmds    []*exec.Cmd
	exited  []chan error
	metrics []string
	// last is each replica's usage when last read: a killed replica's
	// stays, so what it spent before the kill is still counted.
	last []usage
}

func startProcesses(ctx context.Context, cfg Config, dir string) (*processes, error) {
	bin := cfg.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("--procs: find the bulwark binary: %w", err)
		}
	}
	c, path, err := loopbackTestnet(dir, cfg)
	if err != nil {
		return nil, err
	}
	ports, err := testnet.FreePorts(c.N())
	if err != nil {
		return nil, err
	}
	t := &processes{c: c, cmds: make([]*exec.Cmd, c.N()), exited: make([]chan error, c.N()), last: make([]usage, c.N())}
	faults := replicaFaults(cfg)
	for i := range c.N() {
		id := uint32(i)
		addr := "127.0.0.1:" + strconv.Itoa(ports[i])
		t.metrics = append(t.metrics, addr)
		args := []string{"replica", "--cluster", path, "--id", strconv.Itoa(i), "--service", cfg.Service,
			"--metrics", addr, "--log-level", "warn"}
		if f := faults[id]; f != "" {
			args = append(args, "--fault", string(f))
		}
		logPath := filepath.Join(testnet.ReplicaDir(dir, id), "replica.log")
		logFile, err := os.Create(logPath)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("--procs: %w", err), t.stop())
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return nil, errors.Join(fmt.Errorf("--procs: start replica %d: %w", i, err), t.stop())
		}
		logFile.Close() // the child holds its own descriptor
		t.cmds[i] = cmd
		done := make(chan error, 1)
		t.exited[i] = done
		go func() { done <- cmd.Wait() }()
	}
	if err := t.waitReady(ctx, 15*time.Second); err != nil {
		return nil, errors.Join(err, t.stop())
	}
	return t, nil
}

// waitReady waits until every replica serves its metrics, which it does
// once its store is open and its host listens.
func (t *processes) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i, addr := range t.metrics {
		for {
			if _, err := scrape(ctx, addr); err == nil {
				break
			}
			select {
			case err := <-t.exited[i]:
				return fmt.Errorf("--procs: replica %d exited while starting: %v (see its replica.log)", i, err)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("--procs: replica %d did not serve metrics on %s within %v", i, addr, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func (t *processes) cluster() *bulwark.Cluster { return t.c }

// kill sends SIGKILL to replica id's process: no clean shutdown at all.
func (t *processes) kill(id uint32) error {
	cmd := t.cmds[id]
	if cmd == nil {
		return fmt.Errorf("replica %d is already down", id)
	}
	if m, err := scrape(context.Background(), t.metrics[id]); err == nil {
		t.last[id] = processUsage(m) // what it spent up to now; best effort
	}
	t.cmds[id] = nil
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill replica %d: %w", id, err)
	}
	<-t.exited[id]
	return nil
}

func (t *processes) sample(ctx context.Context) (uint64, usage, error) {
	var views []uint64
	var u usage
	for i, cmd := range t.cmds {
		if cmd != nil {
			m, err := scrape(ctx, t.metrics[i])
			if err != nil {
				return 0, usage{}, fmt.Errorf("replica %d: %w", i, err)
			}
			views = append(views, uint64(m["bulwark_view"]))
			t.last[i] = processUsage(m)
		}
		u = u.plus(t.last[i])
	}
	return clusterView(views, t.c.N()), u, nil
}

// stop asks every replica to stop with SIGTERM and kills those that have
// not exited after a grace period.
func (t *processes) stop() error {
	var errs []error
	for i, cmd := range t.cmds {
		if cmd == nil {
			continue
		}
		t.cmds[i] = nil
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already; Wait tells
		select {
		case err := <-t.exited[i]:
			if err != nil {
				errs = append(errs, fmt.Errorf("replica %d: %w (see its replica.log)", i, err))
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-t.exited[i]
			errs = append(errs, fmt.Errorf("replica %d: did not stop within 10s of SIGTERM; killed", i))
		}
	}
	return errors.Join(errs...)
}
