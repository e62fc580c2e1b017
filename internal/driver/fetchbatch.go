package driver

import (
	"golang.org/x/time/rate"

	"github.com/bulwark-bft/bulwark/pbft"
)

// answerFetchBatch answers a peer's FetchBatch from the store, where the
// persistence rule keeps the requests of every batch above the stable
// checkpoint (pbft.Persister.Batch). The core released them from memory
// once it executed them, so the answer never comes from it. A peer may ask
// for a window's worth at once (after a view change), then for about one
// batch per tick: a faulty replica cannot make this one read and send
// batches without bound.
func (d *Driver) answerFetchBatch(m pbft.Inbound) bool {
	fb := m.Msg.GetFetchBatch()
	if fb == nil {
		return false
	}
	if m.From.Replica < 0 || m.From.Replica >= len(d.cfg.Replica.Replicas) || uint32(m.From.Replica) != fb.GetReplica() {
		d.dropped(dropFetchBatchSender)
		return true
	}
	if !d.batchLimiter(m.From.Replica).Allow() {
		d.dropped(dropFetchBatchRate)
		return true
	}
	d.enqueue(writerJob{answer: func() { // the persister is the writer's
		if answer := d.persister.AnswerFetchBatch(fb); answer != nil {
			d.cfg.Transport.Send(fb.GetReplica(), answer)
		}
	}})
	return true
}

// Reasons the driver itself drops a message for, as they appear in the
// messages_dropped_total metric next to the core's.
const (
	dropFetchBatchSender = "fetch batch not from the replica it names"
	dropFetchBatchRate   = "fetch batch above the per-peer rate"
)

// dropped counts a message the driver refused before the core saw it.
func (d *Driver) dropped(reason string) {
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.dropped.WithLabelValues(reason).Inc()
	}
	d.log.Debug("dropped", "reason", reason)
}

func (d *Driver) batchLimiter(peer int) *rate.Limiter {
	if d.batchLimits == nil {
		d.batchLimits = make([]*rate.Limiter, len(d.cfg.Replica.Replicas))
	}
	if d.batchLimits[peer] == nil {
		window := d.cfg.Replica.WindowSize
		if window == 0 {
			window = 2 * max(d.cfg.Replica.CheckpointInterval, pbft.DefaultCheckpointInterval)
		}
		d.batchLimits[peer] = rate.NewLimiter(rate.Every(d.cfg.TickInterval), int(window))
	}
	return d.batchLimits[peer]
}
