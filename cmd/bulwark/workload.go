package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// phase summarizes the operations of one phase.
type phase struct {
	ops       int
	perSecond float64
	median    time.Duration
}

func summarize(ops []opRecord, in func(opRecord) bool, d time.Duration) phase {
	var lat []time.Duration
	for _, op := range ops {
		if in(op) {
			lat = append(lat, op.end.Sub(op.start))
		}
	}
	p := phase{ops: len(lat)}
	if d > 0 {
		p.perSecond = float64(len(lat)) / d.Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		p.median = lat[len(lat)/2]
	}
	return p
}

func (p phase) String() string {
	return fmt.Sprintf("%d operations, %.0f ops/s, median latency %.1f ms",
		p.ops, p.perSecond, float64(p.median.Microseconds())/1000)
}

// opRecord is one completed operation.
type opRecord struct {
	start, end time.Time
	view       uint64
}

// workload runs puts from several clients until stopped.
type workload struct {
	cancel  context.CancelFunc
	clients []*bulwark.Client
	wg      sync.WaitGroup
	mu      sync.Mutex
	ops     []opRecord
	err     error
	once    sync.Once
}

func startWorkload(ctx context.Context, c *bulwark.Cluster, o demoOptions) (*workload, error) {
	ctx, cancel := context.WithCancel(ctx)
	wl := &workload{cancel: cancel}
	for i := range o.Clients {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			wl.stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
		cl, err := bulwark.Dial(ctx, c, key, o.Sessions, o.Logger)
		if err != nil {
			wl.stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
		wl.clients = append(wl.clients, cl)
		for s := range o.Sessions {
			wl.wg.Add(1)
			go wl.worker(ctx, cl, fmt.Sprintf("client-%d-%d", i, s))
		}
	}
	return wl, nil
}

func (wl *workload) worker(ctx context.Context, cl *bulwark.Client, name string) {
	defer wl.wg.Done()
	for i := 0; ; i++ {
		start := time.Now()
		res, err := cl.Do(ctx, kv.EncodePut([]byte(fmt.Sprintf("%s-%d", name, i%100)), []byte(fmt.Sprint(i))))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			var r kv.Result
			if r, err = kv.DecodeResult(res.Result); err == nil && r.Status != kv.StatusOK {
				err = fmt.Errorf("result %v", r.Status)
			}
		}
		wl.mu.Lock()
		if err != nil && wl.err == nil {
			wl.err = fmt.Errorf("demo: %s operation %d: %w", name, i, err)
		}
		wl.ops = append(wl.ops, opRecord{start: start, end: time.Now(), view: res.View})
		wl.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// waitNewView waits for an operation to complete in a view above 0 after
// the crash, and returns when it did and the view.
func (wl *workload) waitNewView(ctx context.Context, crashAt time.Time, timeout time.Duration) (time.Time, uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		wl.mu.Lock()
		err := wl.err
		for _, op := range wl.ops {
			if op.view > 0 && op.end.After(crashAt) {
				wl.mu.Unlock()
				return op.end, op.view, nil
			}
		}
		wl.mu.Unlock()
		if err != nil {
			return time.Time{}, 0, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, 0, fmt.Errorf("demo: no operation completed in a new view within %v of the crash", timeout)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return time.Time{}, 0, err
		}
	}
}

// stop ends the workload and its clients, and reports the first failed
// operation, if any.
func (wl *workload) stop() error {
	wl.once.Do(func() {
		wl.cancel()
		wl.wg.Wait()
		for _, cl := range wl.clients {
			cl.Close()
		}
	})
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return wl.err
}
