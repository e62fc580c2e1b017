package driver

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// faultyTransport makes a real replica misbehave on purpose, for tests,
// demos and benchmarks (`bulwark replica --fault NAME`). It acts at the send
// boundary, as the simulator's adversaries do and with the same
// byzantine.Decorator: the replica's core stays honest and its messages are
// rewritten on the way out, signed with its own key only.
type faultyTransport struct {
	pbft.Transport
	delay time.Duration

	// mu guards the decorator, which is not safe for concurrent use:
	// nothing promises a Transport a single sending goroutine.
	mu  sync.Mutex
	byz *byzantine.Decorator
}

// WithFault wraps t so that the replica misbehaves as cfg says, and returns
// t itself for byzantine.Honest. cfg.Rand may be nil (a random source is
// made). delay is how long a slow primary holds each pre-prepare.
func WithFault(t pbft.Transport, cfg byzantine.Config, delay time.Duration) pbft.Transport {
	if cfg.Kind == byzantine.Honest {
		return t
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &faultyTransport{Transport: t, delay: delay, byz: byzantine.New(cfg)}
}

// Send sends what the fault makes of m, meant for replica id.
func (t *faultyTransport) Send(id uint32, m *wire.Message) {
	t.send(pbft.Envelope{To: int(id), Msg: m})
}

// SendClient sends what the fault makes of m, meant for the client holding
// key.
func (t *faultyTransport) SendClient(key string, m *wire.Message) {
	t.send(pbft.Envelope{To: pbft.ToClient, Client: key, Msg: m})
}

func (t *faultyTransport) send(env pbft.Envelope) {
	t.mu.Lock()
	outs := t.byz.Rewrite(env)
	t.mu.Unlock()
	for _, out := range outs {
		if out.Delay {
			time.AfterFunc(t.delay, func() { t.deliver(out.Envelope) })
		} else {
			t.deliver(out.Envelope)
		}
	}
}

// deliver hands env to the wrapped transport. Envelopes come addressed as
// they went in, to one replica or a client: the driver splits broadcasts.
func (t *faultyTransport) deliver(env pbft.Envelope) {
	if env.To == pbft.ToClient {
		t.Transport.SendClient(env.Client, env.Msg)
		return
	}
	if env.To >= 0 {
		t.Transport.Send(uint32(env.To), env.Msg)
	}
}
