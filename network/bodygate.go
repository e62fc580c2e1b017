package network

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// timings bound how long inbound frames, and departed clients, may hold
// memory. Zero fields take the defaults; tests shorten them.
type timings struct {
	// budgetWait is how long a frame whose length is known may wait for
	// its bytes of the frame budget before its stream is reset.
	budgetWait time.Duration
	// bodyGrace and bodyRate bound how long a body may take to arrive once
	// its length is known: bodyGrace, plus its length at bodyRate bytes a
	// second. A peer that announces a frame and then stalls (slowloris)
	// loses its stream and its reservation when that runs out.
	bodyGrace time.Duration
	bodyRate  int
	// sweepEvery is how often a replica host looks for per-client state
	// libp2p kept after the client left (see forget.go).
	sweepEvery time.Duration
}

// Defaults. Replicas may be continents apart: a largest replica frame
// (16 MiB) may take 5 s + 32 s, a largest client frame (2 MiB) 9 s, on a
// link no slower than 4 Mbit/s. Two seconds of waiting for budget rides out
// a burst of large frames without leaving a reader parked for long.
const (
	defaultBudgetWait = 2 * time.Second
	defaultBodyGrace  = 5 * time.Second
	defaultBodyRate   = 512 << 10
	defaultSweepEvery = 10 * time.Second
)

func (t timings) withDefaults() timings {
	if t.budgetWait <= 0 {
		t.budgetWait = defaultBudgetWait
	}
	if t.bodyGrace <= 0 {
		t.bodyGrace = defaultBodyGrace
	}
	if t.bodyRate <= 0 {
		t.bodyRate = defaultBodyRate
	}
	if t.sweepEvery <= 0 {
		t.sweepEvery = defaultSweepEvery
	}
	return t
}

// bodyTimeout is how long a body of n bytes may take to arrive.
func (t timings) bodyTimeout(n int) time.Duration {
	return t.bodyGrace + time.Duration(int64(n)*int64(time.Second)/int64(t.bodyRate))
}

// readDeadliner is the part of a stream the gate needs.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// bodyGate admits the bodies of one stream's frames: each body's bytes are
// reserved from the stream's pool of the frame budget before it is read, and
// a body still arriving has a deadline.
type bodyGate struct {
	ctx    context.Context // the host's: closing it ends a wait
	budget *frameBudget
	peer   peer.ID
	s      readDeadliner
	t      timings
}

// reserve takes n bytes for the gate's peer, waiting at most budgetWait.
func (g *bodyGate) reserve(n int64) error {
	_, err := g.budget.reserve(g.ctx, g.peer, n, g.t.budgetWait)
	return err
}

func (g *bodyGate) release(n int64) { g.budget.release(g.peer, n) }

// startBody puts the deadline on a body of n bytes that has not yet arrived
// whole; endBody lifts it, so an idle stream may wait for its next frame as
// long as it likes (an idle stream holds no budget).
func (g *bodyGate) startBody(n int) error {
	if err := g.s.SetReadDeadline(time.Now().Add(g.t.bodyTimeout(n))); err != nil {
		return fmt.Errorf("network: set body deadline: %w", err)
	}
	return nil
}

func (g *bodyGate) endBody() error {
	if err := g.s.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("network: clear body deadline: %w", err)
	}
	return nil
}
