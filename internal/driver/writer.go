package driver

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// The writer carries out the Readys the loop hands it, in order, on a
// goroutine of its own: it makes each durable, then sends its messages. The
// loop meanwhile goes on verifying and stepping what arrives, so the replica
// is not idle while the store syncs, and the Readys that queue up during a
// sync are made durable together, in one synced write (group commit).
//
// The persistence rule holds as before: a message leaves only after its own
// Ready is durable, and every earlier one with it, since they are written in
// order. What the core did in memory beyond the durable Readys is lost in a
// crash as if the crash had come before it: nothing of it has left.
// Everything the driver sends itself (a status answer, a fetched batch)
// goes through the writer too, after the Readys before it, so no answer
// speaks of what is not yet durable; and the writer alone touches the
// persister, the store and the transport's sending side.

// maxQueuedReadys bounds the Readys waiting for the writer: when it falls
// that far behind, the loop waits for it (and so do the peers and clients
// whose messages queue in the transport).
const maxQueuedReadys = 32

// maxGroupReadys bounds the Readys made durable in one write.
const maxGroupReadys = 16

// writerJob is one Ready to carry out, or one answer of the driver's own to
// send in turn (answer runs on the writer's goroutine).
type writerJob struct {
	rd     pbft.Ready
	answer func()
}

// writer is the state of the writer goroutine.
type writer struct {
	jobs chan writerJob
	// failed is closed when persisting failed; err then says why, and
	// nothing more is sent.
	failed chan struct{}
	err    error
	// done is closed when the goroutine has returned.
	done chan struct{}
}

func newWriter() *writer {
	return &writer{jobs: make(chan writerJob, maxQueuedReadys), failed: make(chan struct{}), done: make(chan struct{})}
}

// enqueue hands the writer a job, waiting while its queue is full; false if
// the writer failed (the loop must stop) or ctx ended.
func (d *Driver) enqueue(j writerJob) bool {
	select {
	case d.writer.jobs <- j:
		return true
	case <-d.writer.failed:
		return false
	case <-d.ctx.Done():
		return false
	}
}

// runWriter is the writer goroutine: until jobs is closed, it takes the
// jobs queued, makes their Readys durable a group at a time, and sends.
func (d *Driver) runWriter() {
	w := d.writer
	defer close(w.done)
	group := make([]writerJob, 0, maxGroupReadys)
	for j := range w.jobs {
		group = append(group[:0], j)
	drain:
		for len(group) < maxGroupReadys {
			select {
			case j, ok := <-w.jobs:
				if !ok {
					break drain
				}
				group = append(group, j)
			default:
				break drain
			}
		}
		if err := d.carryOut(group); err != nil {
			w.err = err
			close(w.failed)
			for range w.jobs { // the loop stops; let it not block
			}
			return
		}
	}
}

// carryOut makes the group's Readys durable, in order, then sends each
// one's messages and the answers among them, in order.
func (d *Driver) carryOut(group []writerJob) error {
	rds := make([]pbft.Ready, 0, len(group))
	for _, j := range group {
		if j.answer == nil {
			rds = append(rds, j.rd)
		}
	}
	if pbft.BugOn(pbft.BugSendBeforePersist) {
		for _, rd := range rds {
			d.send(rd)
		}
	}
	if err := d.persister.PersistAll(rds); err != nil {
		return fmt.Errorf("replica %d: %w", d.cfg.Replica.ID, err)
	}
	if s, ok := d.cfg.Storage.(*badgerStore); ok && d.cfg.Metrics != nil {
		d.cfg.Metrics.observeStore(s.synced)
	}
	for _, j := range group {
		if j.answer != nil {
			j.answer()
			continue
		}
		if !pbft.BugOn(pbft.BugSendBeforePersist) {
			d.send(j.rd)
		}
		if j.rd.Stable != nil && d.cfg.Store != nil {
			d.maybeCollectValueLog(j.rd.Stable.GetSequence())
		}
	}
	return nil
}

// sendClientInTurn sends m to a client once the Readys handed to the writer
// before it are carried out.
func (d *Driver) sendClientInTurn(client string, m *wire.Message) bool {
	return d.enqueue(writerJob{answer: func() { d.cfg.Transport.SendClient(client, m) }})
}
