package network

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// link is an outbound connection to one replica: a bounded queue and the
// writer goroutine that keeps one long-lived stream open, reconnecting with
// exponential backoff when it breaks.
type link struct {
	c     *core
	id    uint32
	pid   peer.ID
	proto protocol.ID
	q     *sendQueue
	// read consumes the stream's inbound half until it ends: on replica
	// links nothing should arrive (the reader only notices the stream
	// dying); on client links it yields the replies.
	read      func(s network.Stream)
	connected atomic.Bool
}

// backoff doubles from backoffMin to backoffMax.
type backoff struct{ next time.Duration }

func (b *backoff) wait() time.Duration {
	d := max(b.next, backoffMin)
	b.next = min(2*d, backoffMax)
	return d
}

func (b *backoff) reset() { b.next = 0 }

// run is the link's writer goroutine.
func (l *link) run() {
	var (
		bo      backoff
		pending []byte // a frame whose write failed, retried once on the next stream
		retried bool
	)
	for {
		s, err := l.open()
		if err != nil {
			if l.c.ctx.Err() != nil {
				return
			}
			d := bo.wait()
			l.c.log.Debug("network: connect failed", "replica", l.id, "peer", l.pid, "retry_in", d, "err", err)
			if !l.c.sleep(d) {
				return
			}
			continue
		}
		opened := time.Now()
		dead := make(chan struct{})
		if !l.c.spawn(func() {
			defer close(dead)
			l.read(s)
			_ = s.Reset() // wake a writer blocked in Write
		}) {
			l.c.untrack(s, false)
			_ = s.Reset()
			return
		}
		l.connected.Store(true)
		l.c.log.Debug("network: connected", "replica", l.id, "peer", l.pid, "protocol", l.proto)
		failed := l.c.pump(s, l.q, dead, pending)
		l.connected.Store(false)
		_ = s.Reset()
		<-dead
		l.c.untrack(s, false)

		switch {
		case failed == nil:
			pending, retried = nil, false
		case retried:
			l.c.stats.drop(DropSendFailed, "dropping frame that failed to write twice", "replica", l.id)
			pending, retried = nil, false
		default:
			pending, retried = failed, true
		}
		if l.c.ctx.Err() != nil {
			return
		}
		if time.Since(opened) >= stableAfter {
			bo.reset()
		}
		if !l.c.sleep(bo.wait()) {
			return
		}
	}
}

// open dials (if needed) and opens the stream. ForceDirectDial bypasses the
// swarm's own dial backoff, which grows to minutes and would keep us from
// reaching a restarted replica; our backoff paces the attempts instead.
func (l *link) open() (network.Stream, error) {
	ctx := network.WithForceDirectDial(l.c.ctx, "bulwark link")
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	s, err := l.c.host.NewStream(ctx, l.pid, l.proto)
	if err != nil {
		return nil, fmt.Errorf("network: open %s stream to replica %d: %w", l.proto, l.id, err)
	}
	if !l.c.track(s, false) {
		return nil, fmt.Errorf("network: host closing")
	}
	return s, nil
}
