package network

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// errBudget marks a frame whose body could not get its bytes from the
// inbound frame budget in time.
var errBudget = errors.New("inbound frame budget exhausted")

// frameBudget is one pool of the inbound frame budget: the bytes of frame
// bodies being read, decoded or handed to Inbound, bounded in all (limit)
// and per peer (share).
//
// libp2p's resource manager accounts for its own buffers (muxer windows),
// not for ours: without this a peer announcing a large frame and sending
// all but its last byte made the replica hold the body for as long as the
// stream lived, on as many streams as it could open. A body is read only
// once its declared length is reserved here, so what all such frames can
// hold is the limit, and what one peer's streams can hold, its share.
//
// A reservation is a whole frame's body, taken before its first byte is
// read and returned once the message is delivered (or the stream fails).
// Taking it all at once, rather than as bytes arrive, means no reader ever
// waits for budget while holding some, so readers cannot deadlock each
// other; the price is that a stalled frame holds its whole declared length
// until its deadline (bodygate.go), which the share and the limit bound.
type frameBudget struct {
	limit, share int64

	mu    sync.Mutex
	used  int64
	peers map[peer.ID]int64 // bytes each peer holds; no zero entries, so churn leaves nothing behind
	// waiting are the reservations that did not fit, oldest first. A release
	// grants them in order, skipping one held back only by its own peer's
	// share, but stopping at one held back by the limit, so that a large
	// frame is not starved by a stream of small ones.
	waiting list.List // of *budgetWaiter
	waits   uint64    // reservations that had to wait
}

type budgetWaiter struct {
	p     peer.ID
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newFrameBudget(limit, share int) *frameBudget {
	return &frameBudget{limit: int64(limit), share: int64(share), peers: make(map[peer.ID]int64)}
}

// fits says whether p may take n more bytes now; mu is held.
func (b *frameBudget) fits(p peer.ID, n int64) (fitsLimit, fitsShare bool) {
	return b.used+n <= b.limit, b.peers[p]+n <= b.share
}

func (b *frameBudget) take(p peer.ID, n int64) {
	b.used += n
	b.peers[p] += n
}

// reserve takes n bytes for peer p, waiting at most wait for other frames
// to give bytes back. Waiting (rather than refusing at once) rides out a
// burst of large legitimate frames; the bound on it means a reader never
// waits forever. It reports whether it had to wait; the error wraps
// errBudget on timeout, or is ctx's error.
func (b *frameBudget) reserve(ctx context.Context, p peer.ID, n int64, wait time.Duration) (bool, error) {
	if n == 0 {
		return false, nil
	}
	if n > b.share || n > b.limit { // never satisfiable; the frame limit keeps this from happening
		return false, fmt.Errorf("%w: %d bytes exceed the share %d or the limit %d", errBudget, n, b.share, b.limit)
	}
	b.mu.Lock()
	limitOK, shareOK := b.fits(p, n)
	if limitOK && shareOK && b.waiting.Len() == 0 {
		b.take(p, n)
		b.mu.Unlock()
		return false, nil
	}
	w := &budgetWaiter{p: p, n: n, ready: make(chan struct{})}
	e := b.waiting.PushBack(w)
	b.grantLocked() // it may fit after all, if only peers held back by their shares were ahead
	select {
	case <-w.ready:
		b.mu.Unlock()
		return false, nil
	default:
	}
	b.waits++
	b.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return true, nil
	case <-t.C:
		err = fmt.Errorf("%w: %d bytes not free within %v", errBudget, n, wait)
	case <-ctx.Done():
		err = fmt.Errorf("network: waiting for frame budget: %w", ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while the timer fired: keep it
		return true, nil
	default:
	}
	b.waiting.Remove(e)
	b.grantLocked() // one that waited behind this one may fit now
	return true, err
}

// release gives back n bytes reserved for p and grants waiting
// reservations that now fit.
func (b *frameBudget) release(p peer.ID, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if left := b.peers[p] - n; left > 0 {
		b.peers[p] = left
	} else {
		delete(b.peers, p)
	}
	b.grantLocked()
}

// grantLocked grants waiting reservations in order; mu is held.
func (b *frameBudget) grantLocked() {
	for e := b.waiting.Front(); e != nil; {
		w := e.Value.(*budgetWaiter)
		limitOK, shareOK := b.fits(w.p, w.n)
		if !limitOK {
			return
		}
		next := e.Next()
		if shareOK {
			b.take(w.p, w.n)
			b.waiting.Remove(e)
			close(w.ready)
		}
		e = next
	}
}

// budgetUse is a snapshot of one pool.
type budgetUse struct {
	used, limit int64
	peers       int
	waits       uint64
}

func (b *frameBudget) snapshot() budgetUse {
	if b == nil {
		return budgetUse{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return budgetUse{used: b.used, limit: b.limit, peers: len(b.peers), waits: b.waits}
}
