package network

import (
	"context"
	"strconv"
	"sync"

	"github.com/bulwark-bft/bulwark/pbft"
)

// Per-source bounds of the fair inbox. A replica's messages come in bursts
// (a batch's prepares and commits, a view change), so it may have more
// waiting than a client, whose sessions each have one request outstanding.
const (
	replicaSourceQueue = 1024
	clientSourceQueue  = 64
	// inboxTotal bounds what waits in all queues together; past it only a
	// source with nothing waiting gets in (one message), so a newcomer is
	// never locked out by the others.
	inboxTotal = 8192
	// inboxOut is the FIFO between the inbox and the consumer: what the
	// consumer takes at once (its verification batch), and all a message
	// waits behind once the inbox picked it.
	inboxOut = 64
)

// fairInbox is the inbound queue of a host: one FIFO per source (each
// replica, each client key), served round-robin into a short FIFO the
// consumer reads. A client that floods a replica then waits behind its own
// messages only: its queue fills, its stream is no longer read, and flow
// control slows it, while another client's request or a replica's vote
// waits behind at most one message of each other source and the short
// FIFO. (With one shared FIFO of 1,024 messages, a backup's prepares and a
// legitimate client's requests queued behind hundreds of the flood's.)
type fairInbox struct {
	ctx context.Context
	out chan pbft.Inbound

	mu     sync.Mutex
	queues map[string]*sourceQueue
	ring   []*sourceQueue // sources with messages waiting, in serving order
	next   int
	total  int
	wake   chan struct{} // the dispatcher waits on it while all is empty
}

// sourceQueue is one source's FIFO. space is closed (and replaced) when a
// message leaves a queue that has pushers waiting for room.
type sourceQueue struct {
	key     string
	limit   int
	msgs    []pbft.Inbound
	waiters int
	space   chan struct{}
}

func newFairInbox(ctx context.Context) *fairInbox {
	return &fairInbox{
		ctx: ctx, out: make(chan pbft.Inbound, inboxOut),
		queues: make(map[string]*sourceQueue), wake: make(chan struct{}, 1),
	}
}

// sourceOf names the queue a message waits in.
func sourceOf(from pbft.From) (key string, limit int) {
	if from.Replica >= 0 {
		return "r" + strconv.Itoa(from.Replica), replicaSourceQueue
	}
	return "c" + from.Client, clientSourceQueue
}

// push queues m behind its source's earlier messages. It blocks while that
// source's queue is full (or the inbox is and the source already has one
// waiting), and reports false once ctx ends.
func (f *fairInbox) push(m pbft.Inbound) bool {
	key, limit := sourceOf(m.From)
	f.mu.Lock()
	for {
		q := f.queues[key]
		if q == nil {
			q = &sourceQueue{key: key, limit: limit, space: make(chan struct{})}
			f.queues[key] = q
		}
		if len(q.msgs) < q.limit && (f.total < inboxTotal || len(q.msgs) == 0) {
			if len(q.msgs) == 0 {
				f.ring = append(f.ring, q)
			}
			q.msgs = append(q.msgs, m)
			f.total++
			f.mu.Unlock()
			select {
			case f.wake <- struct{}{}:
			default:
			}
			return true
		}
		q.waiters++
		space := q.space
		f.mu.Unlock()
		select {
		case <-space:
		case <-f.ctx.Done():
			f.mu.Lock()
			q.waiters--
			f.forgetIfIdle(q)
			f.mu.Unlock()
			return false
		}
		f.mu.Lock()
		q.waiters--
	}
}

// pop takes the next message round-robin, or reports false when nothing
// waits.
func (f *fairInbox) pop() (pbft.Inbound, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ring) == 0 {
		return pbft.Inbound{}, false
	}
	if f.next >= len(f.ring) {
		f.next = 0
	}
	q := f.ring[f.next]
	m := q.msgs[0]
	q.msgs[0] = pbft.Inbound{}
	q.msgs = q.msgs[1:]
	f.total--
	if q.waiters > 0 {
		close(q.space) // every pusher waiting for room looks again
		q.space = make(chan struct{})
	}
	if len(q.msgs) == 0 {
		q.msgs = nil // a burst's backing array goes with it
		f.ring = append(f.ring[:f.next], f.ring[f.next+1:]...)
		f.forgetIfIdle(q)
	} else {
		f.next++
	}
	return m, true
}

// forgetIfIdle drops an empty queue nobody waits on, so that sources that
// come and go (client keys) leave nothing behind.
func (f *fairInbox) forgetIfIdle(q *sourceQueue) {
	if len(q.msgs) == 0 && q.waiters == 0 && f.queues[q.key] == q {
		delete(f.queues, q.key)
	}
}

// run moves messages into out until ctx ends; what is still queued then is
// released.
func (f *fairInbox) run() {
	defer f.drop()
	for {
		m, ok := f.pop()
		if !ok {
			select {
			case <-f.wake:
				continue
			case <-f.ctx.Done():
				return
			}
		}
		select {
		case f.out <- m:
		case <-f.ctx.Done():
			m.Done()
			return
		}
	}
}

// drop releases every queued message's budget.
func (f *fairInbox) drop() {
	for {
		m, ok := f.pop()
		if !ok {
			return
		}
		m.Done()
	}
}
