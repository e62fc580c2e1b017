package bench

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
)

// workload is cfg.Clients closed-loop clients: each sends an operation,
// waits for the agreed result, checks it, and sends the next.
type workload struct {
	cfg     Config
	rec     *Recorder
	clients []*bulwark.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	view    atomic.Uint64 // highest view a result came from
}

func startWorkload(ctx context.Context, cfg Config, c *bulwark.Cluster, rec *Recorder, logger *slog.Logger) (*workload, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &workload{cfg: cfg, rec: rec, cancel: cancel}
	per := (cfg.Clients + cfg.ClientHosts - 1) / cfg.ClientHosts
	for h := 0; h < cfg.ClientHosts; h++ {
		n := min(per, cfg.Clients-h*per)
		if n <= 0 {
			break
		}
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			return nil, errors.Join(err, w.stop())
		}
		cl, err := bulwark.Dial(ctx, c, key, n, logger)
		if err != nil {
			return nil, errors.Join(err, w.stop())
		}
		w.clients = append(w.clients, cl)
		for s := range n {
			w.wg.Add(1)
			go w.run(ctx, cl, uint64(h*per+s))
		}
	}
	return w, nil
}

// run is one closed-loop client: reads go through Client.Read, writes
// through Client.Do.
func (w *workload) run(ctx context.Context, cl *bulwark.Client, index uint64) {
	defer w.wg.Done()
	src := newOpSource(w.cfg, index)
	for ctx.Err() == nil {
		op := src.next()
		octx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		begin := time.Now()
		res, err := op.send(octx, cl)
		end := time.Now()
		cancel()
		if ctx.Err() != nil {
			return // the run ended, not the operation
		}
		if err == nil {
			err = op.check(res.Result)
			raiseTo(&w.view, res.View)
		}
		w.rec.RecordOp(op.kind, begin, end, res.View, err)
	}
}

// stop ends the clients and waits for them.
func (w *workload) stop() error {
	w.cancel()
	w.wg.Wait()
	var errs []error
	for _, cl := range w.clients {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// raiseTo sets a to v if v is higher.
func raiseTo(a *atomic.Uint64, v uint64) {
	for old := a.Load(); v > old; old = a.Load() {
		if a.CompareAndSwap(old, v) {
			return
		}
	}
}
