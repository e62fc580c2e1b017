package bulwark

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft/client"
)

// ErrOperationTooLarge is returned, before anything is sent, for an
// operation longer than the cluster accepts (pbft.DefaultMaxOperationSize).
var ErrOperationTooLarge = errors.New("operation too large")

// ErrClientClosed is returned by a Client's calls once it is closed or its
// context ended.
var ErrClientClosed = driver.ErrClientStopped

// NoQuorumError is returned when an operation's context ends before enough
// replicas agreed on its result. It says how far the operation got; it
// unwraps to the context's error (errors.Is(err, context.DeadlineExceeded)).
type NoQuorumError struct {
	// Replicas is n; Connected how many of them the client was connected to
	// when it gave up.
	Replicas, Connected int
	// Sent is false if the operation still waited for a free session or
	// for the client's earlier operations (the byte window) to complete.
	Sent bool
	// Replied is how many replicas answered, Matched the largest number of
	// them that agree, Need how many matching replies it takes (f+1, or
	// 2f+1 for a read).
	Replied, Matched, Need int
	Err                    error
}

func (e *NoQuorumError) Error() string {
	if !e.Sent {
		return fmt.Sprintf("no quorum: %d of %d replicas connected, operation not sent yet (all sessions busy or the byte window full): %v",
			e.Connected, e.Replicas, e.Err)
	}
	return fmt.Sprintf("no quorum: %d of %d replicas connected, %d replied, %d matching replies (need %d): %v",
		e.Connected, e.Replicas, e.Replied, e.Matched, e.Need, e.Err)
}

func (e *NoQuorumError) Unwrap() error { return e.Err }

// ErrRejected is what a refused operation's error matches (errors.Is): the
// service's admission check (statemachine.Admitter) refused it before it
// was ordered, and nothing was executed. The error is a *RejectedError.
var ErrRejected = errors.New("operation rejected by the service")

// RejectedError carries the service's reason for refusing an operation, as
// f+1 replicas (one of them correct) reported it.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return fmt.Sprintf("%v: %s", ErrRejected, e.Reason) }

func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Client submits operations to a cluster over libp2p: many goroutines may
// share one, each call taking a free session. Close it when done.
type Client struct {
	inner   *driver.Client
	host    *network.ClientHost
	cancel  context.CancelFunc
	n       int
	maxOp   int
	cluster *Cluster
	status  statusQueries
}

// Dial connects a client with the given number of concurrent sessions to
// every replica; it runs until ctx ends or Close is called. A Cluster of one
// replica, which no cluster file can describe, is the benchmark harness's
// unreplicated server: one reply then suffices.
func Dial(ctx context.Context, c *Cluster, key *crypto.PrivateKey, sessions int, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	host, err := network.NewClientHost(ctx, key, c.Peers, network.WithLogger(logger), network.WithMaxFrameSize(c.MaxMessageSize()))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("client: %w", err)
	}
	cl, err := driver.StartClient(ctx, driver.ClientConfig{
		ClusterID: c.File.signingDomain(), Replicas: c.N(), Unreplicated: c.N() == 1, Signer: key, Transport: host,
		Sessions: sessions, TickInterval: c.Tick(), SessionSpace: c.ReplicaConfig(0).MaxSessions,
		// Resend after about half a second: soon enough for a dropped
		// request, rare enough not to flood a cluster changing views.
		RetransmitTicks: uint64(max(1, int(500*time.Millisecond/c.Tick()))),
		FastReads:       !c.File.Protocol.OrderedReads,
	})
	if err != nil {
		cancel()
		return nil, errors.Join(err, host.Close())
	}
	return &Client{inner: cl, host: host, cancel: cancel, n: c.N(), maxOp: c.MaxOperationSize(), cluster: c}, nil
}

// Do orders op and returns its result: the one f+1 replicas agreed on, or
// 2f+1 when the cluster has fast reads (see Read), so that no later read
// can miss it.
//
// Errors: ErrOperationTooLarge (nothing sent), *RejectedError (errors.Is
// ErrRejected) when the service's admission check refused op,
// *NoQuorumError when ctx ends first, ErrClientClosed once the client is
// closed.
func (c *Client) Do(ctx context.Context, op []byte) (client.Result, error) {
	return c.do(ctx, op, false)
}

// Read runs op, which must not change the service's state (the service
// answers it with Query), and returns a linearizable result: one that
// reflects every operation completed before Read was called. On a cluster
// with fast reads (the default; Protocol.OrderedReads off) it is answered
// from the replicas' executed state without ordering, on 2f+1 matching
// replies; if they do not agree (replicas at different points, or one
// lying), or do not come within about half a second, it is ordered like a
// write. Errors are Do's.
func (c *Client) Read(ctx context.Context, op []byte) (client.Result, error) {
	return c.do(ctx, op, true)
}

func (c *Client) do(ctx context.Context, op []byte, read bool) (client.Result, error) {
	if len(op) > c.maxOp {
		return client.Result{}, fmt.Errorf("%w: %d bytes, the cluster accepts at most %d", ErrOperationTooLarge, len(op), c.maxOp)
	}
	res, err := c.inner.Do(ctx, op, read)
	if inc, ok := errors.AsType[*driver.IncompleteError](err); ok {
		return res, &NoQuorumError{
			Replicas: c.n, Connected: len(c.host.Stats().Connected),
			Sent: inc.Sent, Replied: inc.Replied, Matched: inc.Matched, Need: inc.Need, Err: inc.Err,
		}
	}
	if err == nil && res.Rejected {
		return res, &RejectedError{Reason: string(res.Result)}
	}
	return res, err
}

// Close stops the client and its host.
func (c *Client) Close() error {
	c.cancel()
	return c.host.Close()
}
