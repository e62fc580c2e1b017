package driver

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Status queries from clients (an operator running `bulwark status`) are
// not part of the protocol and never reach the core. They are answered from
// what the replica already knows, the digest of its latest checkpoint
// (pbft.Replica.CheckpointDigest), never by computing a state digest on
// demand, and at a bounded rate: per client key, and in all, so that query
// spam from many keys cannot take the replica's goroutine away from the
// protocol.
const (
	statusPerClient = 20 * time.Millisecond // one answer each, per client key, with a burst of 10
	statusBurst     = 10
	statusAll       = 2000 // answers per second, all clients together
	// statusClients bounds the per-key limiters kept; past it they are
	// forgotten at once (the overall limit still holds).
	statusClients = 4096
)

const dropStatusRate = "status query above the rate limit"

func (d *Driver) answerStatusQuery(m pbft.Inbound) bool {
	if m.From.Replica >= 0 || m.Msg.GetStatus() == nil {
		return false
	}
	if !d.statusLimiter(m.From.Client).Allow() || !d.statusAll.Allow() {
		d.dropped(dropStatusRate)
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.statusDropped.Inc()
		}
		return true
	}
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.statusQueries.Inc()
	}
	_, digest := d.r.CheckpointDigest()
	d.sendClientInTurn(m.From.Client, &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{
		View: d.r.View(), LastExecuted: d.r.LastExecuted(), StableSequence: d.r.StableCheckpoint(),
		Replica: d.r.ID(), ViewChanging: d.r.ViewChanging(), StateDigest: digest[:],
	}}})
	return true
}

func (d *Driver) statusLimiter(client string) *rate.Limiter {
	if d.statusLimits == nil || len(d.statusLimits) >= statusClients {
		d.statusLimits = make(map[string]*rate.Limiter)
	}
	l := d.statusLimits[client]
	if l == nil {
		l = rate.NewLimiter(rate.Every(statusPerClient), statusBurst)
		d.statusLimits[client] = l
	}
	return l
}
