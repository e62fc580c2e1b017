package driver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// ClientConfig configures a client process: one key, many sessions.
type ClientConfig struct {
	ClusterID string
	Replicas  int
	// Unreplicated: Replicas is 1, a single server (see client.Config).
	Unreplicated bool
	Signer       crypto.Signer
	Transport    pbft.Transport
	// Sessions is how many requests may be outstanding at once.
	Sessions int
	// TickInterval is one client tick; RetransmitTicks of them pass before an
	// unanswered request is sent again.
	TickInterval    time.Duration
	RetransmitTicks uint64
	// MaxOutstandingBytes bounds the bytes of the operations outstanding at
	// once (default DefaultMaxOutstandingBytes); a call past it waits, in
	// order, for earlier ones to complete. Replicas hold at most
	// pbft.DefaultMaxHeldPerClient bytes per client key and drop the rest,
	// so a client that sent more would lose requests to its own bound and
	// its later sessions would overtake the dropped ones, retransmission
	// after retransmission.
	MaxOutstandingBytes int
	// SessionSpace is the cluster's session id limit (default
	// pbft.DefaultMaxSessions). The client's sessions take a random range
	// of it, so that processes sharing one client key do not collide.
	SessionSpace uint64
	// FastReads: reads go unordered and every operation completes on 2f+1
	// matching replies (see client.Config).
	FastReads bool
}

// DefaultMaxOutstandingBytes is half the bytes a replica holds for one
// client key by default, leaving room for the requests' envelopes.
const DefaultMaxOutstandingBytes = pbft.DefaultMaxHeldPerClient / 2

// outstandingCost is what an operation counts against the client's window:
// its bytes, and at least what a replica charges a held request.
func outstandingCost(op []byte) int { return max(len(op), 4<<10) }

// Client runs client sessions in one goroutine and lets many callers share
// them: Do waits for a free session, sends the request to every replica and
// returns once f+1 replicas agree.
type Client struct {
	cfg      ClientConfig
	base     uint64 // the session id of sessions[0]
	sessions []*client.Session
	waiting  []*call // by session, the caller it serves
	free     []int
	queue    []*call
	// outstanding is the cost of the operations sent and not yet answered.
	outstanding int
	calls       chan *call
	// statuses carries the replicas' answers to status queries (see
	// StatusAnswers); answers nobody reads are dropped when it is full.
	statuses chan pbft.Inbound
	done     chan struct{}
}

type call struct {
	op       []byte
	readOnly bool
	result   chan client.Result
	// progress is the call's replies so far, kept by the client goroutine
	// for a caller that gives up.
	progress atomic.Pointer[Progress]
}

// Progress is how far an operation got before its caller gave up: whether
// it was sent (or still waited for a session or the client's byte window),
// how many replicas replied, how many of them agreed, and how many must.
type Progress struct {
	Sent                   bool
	Replied, Matched, Need int
}

// IncompleteError is what Do returns when its context ends first: the
// context's error, and how far the operation got.
type IncompleteError struct {
	Progress
	Err error
}

func (e *IncompleteError) Error() string {
	if !e.Sent {
		return fmt.Sprintf("not sent (waiting for a session or for earlier operations): %v", e.Err)
	}
	return fmt.Sprintf("%d replicas replied, %d matching (need %d): %v", e.Replied, e.Matched, e.Need, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// ErrClientStopped is returned by Do once the client's context ended.
var ErrClientStopped = errors.New("client stopped")

// StartClient starts the client's goroutine; it stops when ctx ends.
func StartClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 1
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 10 * time.Millisecond
	}
	if cfg.MaxOutstandingBytes <= 0 {
		cfg.MaxOutstandingBytes = DefaultMaxOutstandingBytes
	}
	c := &Client{cfg: cfg, calls: make(chan *call), statuses: make(chan pbft.Inbound, 4*max(cfg.Replicas, 1)), done: make(chan struct{}), waiting: make([]*call, cfg.Sessions)}
	// Timestamps start at the wall clock so a restarted client stays above
	// every timestamp it used before.
	first := uint64(time.Now().UnixNano())
	if cfg.SessionSpace == 0 {
		cfg.SessionSpace = pbft.DefaultMaxSessions
	}
	if uint64(cfg.Sessions) > cfg.SessionSpace {
		return nil, fmt.Errorf("client: %d sessions, the cluster allows session ids below %d", cfg.Sessions, cfg.SessionSpace)
	}
	c.base = rand.Uint64N(cfg.SessionSpace - uint64(cfg.Sessions) + 1)
	for i := range cfg.Sessions {
		s, err := client.NewSession(client.Config{
			ClusterID: cfg.ClusterID, Replicas: cfg.Replicas, Unreplicated: cfg.Unreplicated, Signer: cfg.Signer,
			Session: c.base + uint64(i), FirstTimestamp: first, RetransmitTicks: cfg.RetransmitTicks,
			FastReads: cfg.FastReads,
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		c.sessions = append(c.sessions, s)
		c.free = append(c.free, i)
	}
	go c.run(ctx)
	return c, nil
}

// Do runs op and returns the result enough replicas agreed on (see
// client.Session.Step): with FastReads a read goes unordered first and is
// ordered if its replies do not agree.
func (c *Client) Do(ctx context.Context, op []byte, readOnly bool) (client.Result, error) {
	cl := &call{op: op, readOnly: readOnly, result: make(chan client.Result, 1)}
	select {
	case c.calls <- cl:
	case <-c.done:
		return client.Result{}, ErrClientStopped
	case <-ctx.Done():
		return client.Result{}, ctx.Err()
	}
	select {
	case r := <-cl.result:
		return r, nil
	case <-c.done:
		return client.Result{}, ErrClientStopped
	case <-ctx.Done():
		e := &IncompleteError{Err: ctx.Err()}
		if p := cl.progress.Load(); p != nil {
			e.Progress = *p
		}
		return client.Result{}, e
	}
}

func (c *Client) run(ctx context.Context) {
	defer close(c.done)
	ticker := time.NewTicker(c.cfg.TickInterval)
	defer ticker.Stop()
	in := c.cfg.Transport.Inbound()
	for {
		select {
		case <-ctx.Done():
			return
		case cl := <-c.calls:
			c.queue = append(c.queue, cl)
		case m, ok := <-in:
			if !ok {
				return
			}
			if m.Msg.GetStatus() != nil {
				select {
				case c.statuses <- m: // its reader calls Done
				default:
					m.Done()
				}
				continue
			}
			c.onReply(m)
			m.Done()
		case <-ticker.C:
			for _, s := range c.sessions {
				if req := s.Tick(); req != nil {
					c.broadcast(req)
				}
			}
		}
		c.startQueued()
	}
}

// StatusAnswers yields the Status messages replicas send this client, the
// answers to status queries sent over its transport.
func (c *Client) StatusAnswers() <-chan pbft.Inbound { return c.statuses }

func (c *Client) onReply(m pbft.Inbound) {
	rep := m.Msg.GetReply()
	if rep == nil || m.From.Replica < 0 || rep.GetSession() < c.base || rep.GetSession()-c.base >= uint64(len(c.sessions)) {
		return // another process's session of this key, or no session at all
	}
	i := int(rep.GetSession() - c.base)
	res, ok := c.sessions[i].Step(uint32(m.From.Replica), rep)
	if req := c.sessions[i].Resend(); req != nil {
		c.broadcast(req) // a read that could not complete unordered
	}
	if c.waiting[i] == nil {
		return
	}
	if !ok {
		replied, matched, need := c.sessions[i].Progress()
		c.waiting[i].progress.Store(&Progress{Sent: true, Replied: replied, Matched: matched, Need: need})
		return
	}
	c.waiting[i].result <- res
	c.outstanding -= outstandingCost(c.waiting[i].op)
	c.waiting[i] = nil
	c.free = append(c.free, i)
}

func (c *Client) startQueued() {
	for len(c.queue) > 0 && len(c.free) > 0 {
		cl := c.queue[0]
		cost := outstandingCost(cl.op)
		if c.outstanding > 0 && c.outstanding+cost > c.cfg.MaxOutstandingBytes {
			return // it waits, first in line, for earlier operations to complete
		}
		c.queue = c.queue[1:]
		i := c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
		c.sessions[i].AdvanceTo(uint64(time.Now().UnixNano())) // above the floors of evicted sessions
		req, err := c.sessions[i].Submit(cl.op, cl.readOnly)
		if err != nil { // cannot happen: the session was free
			c.free = append(c.free, i)
			continue
		}
		c.waiting[i] = cl
		_, _, need := c.sessions[i].Progress()
		cl.progress.Store(&Progress{Sent: true, Need: need})
		c.outstanding += cost
		c.broadcast(req)
	}
}

func (c *Client) broadcast(req *wire.Request) {
	m := &wire.Message{Content: &wire.Message_Request{Request: req}}
	for id := range c.cfg.Replicas {
		c.cfg.Transport.Send(uint32(id), m)
	}
}
