package systest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// putLoad is closed-loop puts from several clients, each with many
// sessions, over a key space of 100 keys per session.
type putLoad struct {
	cancel  context.CancelFunc
	clients []*bulwark.Client
	wg      sync.WaitGroup
	done    atomic.Int64
	mu      sync.Mutex
	err     error
}

func startPuts(ctx context.Context, c *bulwark.Cluster, clients, sessions int) (*putLoad, error) {
	ctx, cancel := context.WithCancel(ctx)
	l := &putLoad{cancel: cancel}
	for i := range clients {
		key, err := crypto.GenerateKey(nil)
		if err == nil {
			var cl *bulwark.Client
			if cl, err = bulwark.Dial(ctx, c, key, sessions, nil); err == nil {
				l.clients = append(l.clients, cl)
				for s := range sessions {
					l.wg.Go(func() { l.worker(ctx, cl, fmt.Sprintf("client-%d-%d", i, s)) })
				}
			}
		}
		if err != nil {
			return nil, errors.Join(err, l.stop())
		}
	}
	return l, nil
}

func (l *putLoad) worker(ctx context.Context, cl *bulwark.Client, name string) {
	for i := 0; ; i++ {
		res, err := cl.Do(ctx, kv.EncodePut(fmt.Appendf(nil, "%s-%d", name, i%100), fmt.Append(nil, i)))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			var r kv.Result
			if r, err = kv.DecodeResult(res.Result); err == nil && r.Status != kv.StatusOK {
				err = fmt.Errorf("result %v", r.Status)
			}
		}
		if err != nil {
			l.mu.Lock()
			l.err = firstErr(l.err, fmt.Errorf("%s operation %d: %w", name, i, err))
			l.mu.Unlock()
			return
		}
		l.done.Add(1)
	}
}

func firstErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// stop ends the load and returns its first error.
func (l *putLoad) stop() error {
	l.cancel()
	l.wg.Wait()
	var errs []error
	for _, cl := range l.clients {
		errs = append(errs, cl.Close())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(append(errs, l.err)...)
}
