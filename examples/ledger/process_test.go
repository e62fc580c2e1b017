package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

// TestReplicaProcesses runs the ledger as a user would: `ledger testnet`,
// four `ledger replica` processes, and clients of several account keys
// transferring concurrently. Mid-run the primary's process is SIGKILLed; the
// transfers go on without it (a view change), then it is restarted on its
// data directory. At the end every confirmed transfer is in the balances,
// the supply is conserved, and the four replicas, the restarted one too,
// report one executed sequence number and state digest.
func TestReplicaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs replica processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	began := time.Now()

	path := strings.TrimSpace(runLedger(ctx, t, "testnet", t.TempDir()))
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rs := startReplicas(t, path, c.N())

	const (
		accounts, workers = 6, 6
		total             = 450
		killAt, restartAt = 100, 250 // transfers answered
	)
	keys, err := accountKeys("", accounts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorkload(ctx, c, keys, workers, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	observer := dialObserver(ctx, t, c)

	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		w.transfers(ctx, total, workers)
	}()
	waitTransfers(ctx, t, w, killAt)
	primary := primaryOf(ctx, t, observer)
	pid := rs.kill(primary)
	crash := time.Now()
	t.Logf("SIGKILLed the primary, replica %d (pid %d), after %d transfers", primary, pid, w.done.Load())
	waitTransfers(ctx, t, w, restartAt)
	t.Logf("%d transfers answered in the %v the primary was down", w.done.Load()-killAt, time.Since(crash).Round(time.Millisecond))
	rs.start(primary)
	select {
	case <-loadDone:
	case <-ctx.Done():
		t.Fatalf("the transfers did not finish: %v (%d answered)", ctx.Err(), w.done.Load())
	}

	summary, err := w.verify(ctx)
	t.Log(summary)
	if err != nil {
		t.Fatal(err)
	}
	if w.unknown > 0 {
		t.Fatalf("%d transfers went unanswered within the operation timeout", w.unknown)
	}
	if w.ok == 0 {
		t.Fatal("no transfer succeeded")
	}

	restart := time.Now()
	sts, err := waitConverged(ctx, observer, c.N(), func(ctx context.Context) error {
		_, err := observer.Do(ctx, ledger.EncodeSupply())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d replicas at view %d, last executed %d, checkpoint %d, digest %.16s, %v after the load (test %v)",
		len(sts), sts[0].View, sts[0].LastExecuted, sts[0].StableCheckpoint, sts[0].StateDigest,
		time.Since(restart).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	// The client command, as its own process, against the same cluster:
	// it exits non-zero on any violation.
	out := runLedger(ctx, t, "client", "-cluster", path, "-accounts", "3", "-transfers", "30")
	if !strings.HasPrefix(out, "ledger: 3 accounts, 30 transfers") {
		t.Fatalf("ledger client printed %q", out)
	}
	t.Log(strings.TrimSpace(out))
}

// dialObserver is a client of no account, for status queries and pokes.
func dialObserver(ctx context.Context, t *testing.T, c *bulwark.Cluster) *bulwark.Client {
	t.Helper()
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := bulwark.Dial(ctx, c, key, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// waitTransfers waits until n transfers have been answered.
func waitTransfers(ctx context.Context, t *testing.T, w *workload, n int64) {
	t.Helper()
	for w.done.Load() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d transfers answered: %v", w.done.Load(), n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// primaryOf is the primary most replicas name.
func primaryOf(ctx context.Context, t *testing.T, cl *bulwark.Client) int {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sts, err := cl.Status(sctx)
	if err != nil {
		t.Fatal(err)
	}
	votes := map[uint32]int{}
	best := -1
	for _, st := range sts {
		if !st.Reachable {
			continue
		}
		votes[st.Primary]++
		if best < 0 || votes[st.Primary] > votes[uint32(best)] {
			best = int(st.Primary)
		}
	}
	if best < 0 {
		t.Fatalf("no replica answered a status query: %+v", sts)
	}
	return best
}
