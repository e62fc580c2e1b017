package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peerstore"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Client attacks: clients that send only messages the protocol allows, but
// many of them, or large ones, to take the cluster from its legitimate
// clients. They run in this process next to the measured workload, whose
// throughput is what the report shows; what the attack itself achieved is
// reported beside it (Report.Attacks).
const (
	// FloodClient is one client key keeping as many requests outstanding
	// as its sessions allow (DefaultFloodSessions), each a put (kv) or an
	// echo (null) of the run's payload size, closed loop.
	FloodClient FaultKind = "flood-client"
	// LargeRequests is one client key with DefaultLargeSessions sessions
	// sending operations of DefaultLargeSize bytes, closed loop.
	LargeRequests FaultKind = "large-requests"
	// StatusSpam is DefaultSpamKeys client keys sending Status queries (what
	// `bulwark status` sends) back to back to replicas 0 and 1, as fast as
	// those replicas read them.
	StatusSpam FaultKind = "status-spam"
)

// Attack sizes when AttackOptions leaves them zero.
const (
	// DefaultFloodSessions is how many sessions the flooding key keeps
	// busy: 4,096, each at least 4 KiB of the 16 MiB a replica holds per
	// key (pbft.DefaultMaxHeldPerClient), so every one of its slots.
	DefaultFloodSessions = 4096
	// DefaultLargeSessions and DefaultLargeSize: 20 sessions of 1 MB
	// operations, below the default operation limit of 1 MiB with the kv
	// encoding's few bytes around it.
	DefaultLargeSessions = 20
	DefaultLargeSize     = 1_000_000
	// DefaultSpamKeys client keys spam DefaultSpamTargets.
	DefaultSpamKeys = 8
)

// DefaultSpamTargets are the replicas status-spam floods: the primary of
// view 0 and one backup.
var DefaultSpamTargets = []uint32{0, 1}

// clientAttacks are the fault kinds that are attacking clients.
var clientAttacks = map[FaultKind]bool{FloodClient: true, LargeRequests: true, StatusSpam: true}

// IsClientAttack reports whether the fault is an attacking client rather
// than a faulty replica.
func (f Fault) IsClientAttack() bool { return clientAttacks[f.Kind] }

// AttackOptions size a client attack; zero fields take the kind's defaults.
type AttackOptions struct {
	// Sessions of the attacking key (flood-client, large-requests).
	Sessions int
	// Size is each operation's payload in bytes (flood-client: default 128,
	// large-requests: DefaultLargeSize).
	Size int
	// Keys spamming (status-spam).
	Keys int
	// Targets are the replicas spammed (status-spam).
	Targets []uint32
	// Service is what the cluster runs, kv (default) or null: it decides the
	// operations and how their results are checked.
	Service string
	// Timeout bounds each attacking request; one that takes longer counts
	// as an error (default one minute).
	Timeout time.Duration
	// Seed makes the payloads reproducible.
	Seed uint64
}

func (o AttackOptions) withDefaults(kind FaultKind) AttackOptions {
	switch kind {
	case FloodClient:
		o.Sessions = cmpOr(o.Sessions, DefaultFloodSessions)
		o.Size = cmpOr(o.Size, 128)
	case LargeRequests:
		o.Sessions = cmpOr(o.Sessions, DefaultLargeSessions)
		o.Size = cmpOr(o.Size, DefaultLargeSize)
	case StatusSpam:
		o.Keys = cmpOr(o.Keys, DefaultSpamKeys)
		if len(o.Targets) == 0 {
			o.Targets = DefaultSpamTargets
		}
	}
	if o.Service == "" {
		o.Service = "kv"
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	return o
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// AttackStats is what a client attack did.
type AttackStats struct {
	Kind FaultKind `json:"kind"`
	// Sent counts requests started (flood-client, large-requests) or Status
	// queries written (status-spam).
	Sent int64 `json:"sent"`
	// Completed counts requests with a correct agreed result, or Status
	// answers received.
	Completed int64 `json:"completed"`
	// Errors counts requests that failed, timed out or returned a wrong
	// result.
	Errors int64 `json:"errors"`
	// FirstError is the first of them, for the report.
	FirstError string `json:"first_error,omitempty"`
	// MaxLatency is the longest a completed request took.
	MaxLatency time.Duration `json:"max_latency_ns"`
	// Duration is how long the attack ran, to the Stop call (requests still
	// outstanding then complete afterwards, and count).
	Duration time.Duration `json:"duration_ns"`
	// Sessions, Size, Keys and Targets are the attack's options.
	Sessions int      `json:"sessions,omitempty"`
	Size     int      `json:"size_bytes,omitempty"`
	Keys     int      `json:"keys,omitempty"`
	Targets  []uint32 `json:"targets,omitempty"`
}

// Attack is a client attack running against a cluster.
type Attack struct {
	kind  FaultKind
	opts  AttackOptions
	start time.Time

	cancel   context.CancelFunc // ends the status spam at once
	stopping atomic.Bool        // request loops start no new request
	wg       sync.WaitGroup
	closers  []func() error

	sent, completed, errs atomic.Int64
	maxLatency            atomic.Int64
	mu                    sync.Mutex
	firstErr              string

	stopOnce  sync.Once
	stoppedAt atomic.Int64 // unix nanoseconds of the Stop call, 0 before
	stats     AttackStats
	stopErr   error
}

// StartAttack starts a client attack of kind (flood-client, large-requests
// or status-spam) against the cluster c. It runs until Stop, or until ctx
// ends.
func StartAttack(ctx context.Context, kind FaultKind, c *bulwark.Cluster, o AttackOptions, logger *slog.Logger) (*Attack, error) {
	if !clientAttacks[kind] {
		return nil, fmt.Errorf("bench: %q is not a client attack", kind)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o = o.withDefaults(kind)
	actx, cancel := context.WithCancel(ctx)
	a := &Attack{kind: kind, opts: o, start: time.Now(), cancel: cancel}
	var err error
	switch kind {
	case FloodClient, LargeRequests:
		err = a.startRequests(ctx, c, logger)
	case StatusSpam:
		err = a.startSpam(actx, c)
	}
	if err != nil {
		_, serr := a.Stop()
		return nil, errors.Join(err, serr)
	}
	return a, nil
}

// startRequests runs one client key with o.Sessions sessions, each sending
// the next operation as soon as the last one completed. The requests run on
// ctx, not on the attack's own context: Stop lets the ones outstanding
// finish, so that a test can require every one of them to complete.
func (a *Attack) startRequests(ctx context.Context, c *bulwark.Cluster, logger *slog.Logger) error {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return err
	}
	cl, err := bulwark.Dial(ctx, c, key, a.opts.Sessions, logger)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, cl.Close)
	for s := range a.opts.Sessions {
		a.wg.Go(func() { a.requestLoop(ctx, cl, s) })
	}
	return nil
}

func (a *Attack) requestLoop(ctx context.Context, cl *bulwark.Client, session int) {
	rng := rand.New(rand.NewPCG(a.opts.Seed, uint64(session)))
	payload := make([]byte, a.opts.Size)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	key := fmt.Appendf(nil, "%s-%d", a.kind, session) // one key per session: the state stays bounded
	for n := 0; !a.stopping.Load() && ctx.Err() == nil; n++ {
		var op []byte
		var check func([]byte) error
		if a.opts.Service == "null" {
			payload[0] = byte(n) // each operation differs from the last
			op = payload
			check = func(res []byte) error {
				if !bytes.Equal(res, op) {
					return fmt.Errorf("null service: result of %d bytes is not the operation echoed", len(res))
				}
				return nil
			}
		} else {
			payload[0] = byte(n)
			op = kv.EncodePut(key, payload)
			check = func(res []byte) error {
				r, err := kv.DecodeResult(res)
				if err == nil && r.Status != kv.StatusOK {
					err = fmt.Errorf("kv put: result %v", r.Status)
				}
				return err
			}
		}
		a.sent.Add(1)
		octx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
		begin := time.Now()
		res, err := cl.Do(octx, op)
		took := time.Since(begin)
		cancel()
		if ctx.Err() != nil {
			return // the run ended, not the request
		}
		if err == nil {
			err = check(res.Result)
		}
		if err != nil {
			a.fail(fmt.Errorf("session %d, request %d after %v: %w", session, n, took.Round(time.Millisecond), err))
			continue
		}
		a.completed.Add(1)
		for old := a.maxLatency.Load(); int64(took) > old && !a.maxLatency.CompareAndSwap(old, int64(took)); old = a.maxLatency.Load() {
		}
	}
}

func (a *Attack) fail(err error) {
	if a.errs.Add(1) == 1 {
		a.mu.Lock()
		a.firstErr = err.Error()
		a.mu.Unlock()
	}
}

// statusFrame is one Status query as it travels: length prefix and the
// encoded envelope.
func statusFrame() []byte {
	body, err := proto.Marshal(&wire.Message{Content: &wire.Message_Status{Status: &wire.Status{}}})
	if err != nil {
		panic(err) // a constant message always encodes
	}
	return Frame(body)
}

// Frame puts the transport's length prefix (big-endian uint32) before an
// encoded wire.Message.
func Frame(body []byte) []byte {
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, uint32(len(body)))
	return append(out, body...)
}

// spamBurst is how many queries one write carries: the writer keeps the
// stream full at little cost to this process.
const spamBurst = 64 << 10

// startSpam opens, for each of o.Keys fresh client keys, a client stream to
// each target and then writes Status queries back to back on all of them
// until the attack stops. The answers are read and counted, so the replica's replies are
// not cut short by a full queue.
func (a *Attack) startSpam(ctx context.Context, c *bulwark.Cluster) error {
	for _, id := range a.opts.Targets {
		if int(id) >= c.N() {
			return fmt.Errorf("status-spam: replica %d is not in a cluster of %d", id, c.N())
		}
	}
	// Every stream is open before the first query goes out, so the attack
	// starts at once at full strength.
	type target struct {
		h  host.Host
		id uint32
	}
	var targets []target
	for range a.opts.Keys {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			return err
		}
		h, err := NewRawHost(key)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, h.Close)
		for _, id := range a.opts.Targets {
			p := c.Peers[id]
			h.Peerstore().AddAddrs(p.PeerID, p.Addrs, peerstore.PermanentAddrTTL)
			targets = append(targets, target{h, id})
		}
	}
	streams := make([]p2pnet.Stream, len(targets))
	errs := make([]error, len(targets))
	var opening sync.WaitGroup
	for i, tg := range targets {
		opening.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			streams[i], errs[i] = tg.h.NewStream(sctx, c.Peers[tg.id].PeerID, network.ClientProtocol)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("status-spam: stream to replica %d: %w", tg.id, errs[i])
			}
		})
	}
	opening.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range streams {
			if s != nil {
				_ = s.Reset()
			}
		}
		return err
	}
	a.start = time.Now()
	frame := statusFrame()
	burst := bytes.Repeat(frame, spamBurst/len(frame))
	perBurst := int64(spamBurst / len(frame))
	for _, s := range streams {
		a.wg.Go(func() {
			defer s.Reset()
			stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
			defer stop()
			for ctx.Err() == nil {
				if _, err := s.Write(burst); err != nil {
					return
				}
				a.sent.Add(perBurst)
			}
		})
		a.wg.Go(func() {
			n, _ := CountFrames(s)
			a.completed.Add(n)
		})
	}
	return nil
}

// CountFrames reads length-prefixed frames from r, discarding them, until
// it fails; it returns how many whole frames it read.
func CountFrames(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [4]byte
	var n int64
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return n, err
		}
		if _, err := br.Discard(int(binary.BigEndian.Uint32(hdr[:]))); err != nil {
			return n, err
		}
		n++
	}
}

// NewRawHost is a bare libp2p host with the identity of key, dialling only
// (TCP and QUIC, as replicas listen), for sending bytes the transport
// package would never send, or sending them faster. It has no resource
// limits of its own: the limits under test are the replicas'.
func NewRawHost(key *crypto.PrivateKey) (host.Host, error) {
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(append(key.Seed(), key.PublicKey()...))
	if err != nil {
		return nil, fmt.Errorf("bench: libp2p key: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ResourceManager(&p2pnet.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
	if err != nil {
		return nil, fmt.Errorf("bench: libp2p host: %w", err)
	}
	return h, nil
}

// Stats is a snapshot of what the attack did so far.
func (a *Attack) Stats() AttackStats {
	a.mu.Lock()
	first := a.firstErr
	a.mu.Unlock()
	st := AttackStats{
		Kind: a.kind, Sent: a.sent.Load(), Completed: a.completed.Load(), Errors: a.errs.Load(), FirstError: first,
		MaxLatency: time.Duration(a.maxLatency.Load()), Duration: time.Since(a.start),
	}
	if at := a.stoppedAt.Load(); at != 0 {
		st.Duration = time.Unix(0, at).Sub(a.start)
	}
	switch a.kind {
	case FloodClient, LargeRequests:
		st.Sessions, st.Size = a.opts.Sessions, a.opts.Size
	case StatusSpam:
		st.Keys, st.Targets = a.opts.Keys, a.opts.Targets
	}
	return st
}

// Stop ends the attack: no request is started any more, and those
// outstanding are waited for (each for at most the attack's Timeout); the
// status spam ends at once. It returns what the attack did. Stop may be
// called more than once.
func (a *Attack) Stop() (AttackStats, error) {
	a.stopOnce.Do(func() {
		a.stoppedAt.Store(time.Now().UnixNano())
		a.stopping.Store(true)
		a.cancel() // status-spam: ends its writes; request loops finish their requests
		a.wg.Wait()
		a.stats = a.Stats()
		var errs []error
		for _, c := range a.closers {
			errs = append(errs, c())
		}
		a.stopErr = errors.Join(errs...)
	})
	return a.stats, a.stopErr
}
