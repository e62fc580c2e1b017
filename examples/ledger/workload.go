package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

// account is one account of the workload: its owner's key and the client
// that speaks for it. Each owner needs a Client of its own, because the
// client's key is what a transfer debits.
type account struct {
	id    ledger.Account
	cl    *bulwark.Client
	start uint64 // the balance before the workload's transfers
}

// workload opens accounts, runs random transfers between them and checks
// that the cluster's books agree with every result it was given.
type workload struct {
	accounts []*account
	timeout  time.Duration // of one operation

	done atomic.Int64 // transfers answered, for progress reports

	mu sync.Mutex
	// net is each account's change by the transfers the cluster confirmed;
	// maybeOut and maybeIn bound what the transfers with no answer (the
	// operation timed out: executed or not, nobody told us) may have moved.
	net                  []int64
	maybeOut, maybeIn    []uint64
	ok, refused, unknown int
	violations           []string
}

// newWorkload dials one client per key and opens its account (an account
// already open, from an earlier run with the same keys, is used as it is).
func newWorkload(ctx context.Context, c *bulwark.Cluster, keys []*crypto.PrivateKey, sessions int, timeout time.Duration) (*workload, error) {
	if len(keys) < 2 {
		return nil, errors.New("transfers need at least two accounts")
	}
	w := &workload{timeout: timeout, net: make([]int64, len(keys)),
		maybeOut: make([]uint64, len(keys)), maybeIn: make([]uint64, len(keys))}
	for _, key := range keys {
		cl, err := bulwark.Dial(ctx, c, key, sessions, slog.New(slog.DiscardHandler))
		if err != nil {
			w.close()
			return nil, fmt.Errorf("dial: %w", err)
		}
		id, err := ledger.AccountOf(key.PublicKey())
		if err != nil {
			w.close()
			return nil, err
		}
		w.accounts = append(w.accounts, &account{id: id, cl: cl})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(w.accounts))
	for i, a := range w.accounts {
		wg.Go(func() {
			r, err := w.do(ctx, a.cl, ledger.EncodeOpen(), false)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("open %s: %w", a.id, err)
			case r.Code != ledger.OK && r.Code != ledger.AlreadyOpen:
				errs[i] = fmt.Errorf("open %s: %v", a.id, r.Code)
			default:
				a.start = r.Amount
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *workload) close() {
	for _, a := range w.accounts {
		a.cl.Close()
	}
}

// do runs one operation and decodes its result. A rejected result is the
// service's Admit refusing the operation: for this workload, a bug.
// A read (balance, supply) goes through Client.Read: linearizable, and
// unordered when the replicas agree.
func (w *workload) do(ctx context.Context, cl *bulwark.Client, op []byte, read bool) (ledger.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	call := cl.Do
	if read {
		call = cl.Read
	}
	res, err := call(ctx, op)
	if err != nil {
		return ledger.Result{}, err // errors.Is(err, bulwark.ErrRejected): refused before ordering
	}
	return ledger.DecodeResult(res.Result)
}

// transfers runs n random transfers from workers goroutines.
func (w *workload) transfers(ctx context.Context, n, workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				from := rand.IntN(len(w.accounts))
				to := (from + 1 + rand.IntN(len(w.accounts)-1)) % len(w.accounts)
				w.transfer(ctx, from, to, 1+rand.Uint64N(ledger.InitialGrant/4))
			}
		})
	}
	wg.Wait()
}

// transfer sends amount from accounts[from] to accounts[to], through from's
// own client, and books the answer.
func (w *workload) transfer(ctx context.Context, from, to int, amount uint64) {
	r, err := w.do(ctx, w.accounts[from].cl, ledger.EncodeTransfer(w.accounts[to].id, amount), false)
	defer w.done.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	var nq *bulwark.NoQuorumError
	switch {
	case errors.As(err, &nq) || errors.Is(err, bulwark.ErrClientClosed):
		// No answer: the transfer may or may not have executed.
		w.unknown++
		w.maybeOut[from] += amount
		w.maybeIn[to] += amount
	case err != nil:
		w.violations = append(w.violations, fmt.Sprintf("transfer: %v", err))
	case r.Code == ledger.OK:
		w.ok++
		w.net[from] -= int64(amount)
		w.net[to] += int64(amount)
	case r.Code == ledger.InsufficientFunds:
		w.refused++
	default:
		w.violations = append(w.violations, fmt.Sprintf("transfer of %d: %v", amount, r.Code))
	}
}

// verify, once transfers returned, reads every balance and the supply and
// checks them against what the cluster answered: each confirmed transfer is
// in the balances, money moved only between these accounts, and the whole
// ledger holds exactly the grant of every account. The reads are
// linearizable (Client.Read), so each one reflects every transfer that
// returned before it, even with a Byzantine replica.
func (w *workload) verify(ctx context.Context) (string, error) {
	var sumStart, sumNow uint64
	for i, a := range w.accounts {
		r, err := w.do(ctx, a.cl, ledger.EncodeBalance(a.id), true)
		if err != nil {
			return "", fmt.Errorf("balance of %s: %w", a.id, err)
		}
		if r.Code != ledger.OK {
			return "", fmt.Errorf("balance of %s: %v", a.id, r.Code)
		}
		want := uint64(int64(a.start) + w.net[i])
		if lo, hi := want-min(w.maybeOut[i], want), want+w.maybeIn[i]; r.Amount < lo || r.Amount > hi {
			w.violations = append(w.violations, fmt.Sprintf("account %d holds %d; the confirmed transfers make it %d (%d..%d counting unanswered ones)", i, r.Amount, want, lo, hi))
		}
		sumStart += a.start
		sumNow += r.Amount
	}
	if sumNow != sumStart {
		w.violations = append(w.violations, fmt.Sprintf("the accounts held %d and now hold %d", sumStart, sumNow))
	}
	r, err := w.do(ctx, w.accounts[0].cl, ledger.EncodeSupply(), true)
	if err != nil {
		return "", fmt.Errorf("supply: %w", err)
	}
	if r.Amount != ledger.InitialGrant*r.Accounts {
		w.violations = append(w.violations, fmt.Sprintf("supply %d over %d accounts, want %d each", r.Amount, r.Accounts, ledger.InitialGrant))
	}
	summary := fmt.Sprintf("%d accounts, %d transfers: %d ok, %d insufficient funds, %d unanswered; balances sum to %d; supply %d over %d accounts",
		len(w.accounts), w.done.Load(), w.ok, w.refused, w.unknown, sumNow, r.Amount, r.Accounts)
	if len(w.violations) > 0 {
		return summary, fmt.Errorf("%d violations:\n  %s", len(w.violations), strings.Join(w.violations, "\n  "))
	}
	return summary, nil
}

// waitConverged asks every replica for its status until all n are in one
// view at one executed sequence number with one state digest, or ctx ends.
// A replica that restarted catches up as the cluster moves on, so between
// tries it orders a read (poke): that is a new batch, and in time a new
// checkpoint, for it to learn from.
func waitConverged(ctx context.Context, cl *bulwark.Client, n int, poke func(context.Context) error) ([]bulwark.ReplicaStatus, error) {
	var last []bulwark.ReplicaStatus
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		sts, err := cl.Status(sctx)
		cancel()
		if err == nil && converged(sts, n) {
			return sts, nil
		}
		last = sts
		if err := poke(ctx); err != nil && ctx.Err() == nil {
			return last, fmt.Errorf("poke: %w", err)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("replicas did not converge: %w (last status %+v)", ctx.Err(), last)
		case <-time.After(300 * time.Millisecond): // let the slowest execute the poke
		}
	}
}

func converged(sts []bulwark.ReplicaStatus, n int) bool {
	if len(sts) != n {
		return false
	}
	for _, st := range sts {
		if !st.Reachable || st.ViewChanging || st.LastExecuted == 0 || st.View != sts[0].View ||
			st.LastExecuted != sts[0].LastExecuted || st.StableCheckpoint != sts[0].StableCheckpoint ||
			st.StateDigest != sts[0].StateDigest {
			return false
		}
	}
	return true
}
