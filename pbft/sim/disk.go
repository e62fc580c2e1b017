package sim

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// disk models a replica's storage as its driver uses it: Persist messages and
// stable checkpoints are written synced (a sync also makes every earlier
// write durable); committed batches are written without a sync. A crash
// loses whatever was not yet durable.
type disk struct {
	durable  pbft.Durable
	unsynced []*wire.PrePrepare
}

// write records a Ready the way a driver does, before its messages are sent.
func (d *disk) write(rd pbft.Ready) {
	for _, ex := range rd.Executed {
		d.unsynced = append(d.unsynced, ex.PrePrepare)
	}
	if rd.Stable == nil && len(rd.Persist) == 0 && len(rd.Prepared) == 0 && rd.View == nil {
		return
	}
	if rd.View != nil {
		d.durable.View, d.durable.ViewChanging = rd.View.View, rd.View.Changing
	}
	d.durable.Log = append(d.durable.Log, rd.Persist...)
	d.durable.Prepared = append(d.durable.Prepared, rd.Prepared...)
	d.durable.Committed = append(d.durable.Committed, d.unsynced...)
	d.unsynced = nil
	if rd.Stable != nil && (d.durable.Stable == nil || rd.Stable.GetSequence() > d.durable.Stable.GetSequence()) {
		d.durable.Stable = rd.Stable
		d.collectGarbage(rd.Stable.GetSequence())
	}
}

// collectGarbage deletes what lies at or below the stable checkpoint.
func (d *disk) collectGarbage(stable uint64) {
	log := d.durable.Log[:0]
	for _, m := range d.durable.Log {
		if sequenceOf(m) > stable {
			log = append(log, m)
		}
	}
	d.durable.Log = log
	committed := d.durable.Committed[:0]
	for _, pp := range d.durable.Committed {
		if pp.GetSequence() > stable {
			committed = append(committed, pp)
		}
	}
	d.durable.Committed = committed
	prepared := d.durable.Prepared[:0]
	for _, pc := range d.durable.Prepared {
		if pc.GetPrePrepare().GetSequence() > stable {
			prepared = append(prepared, pc)
		}
	}
	d.durable.Prepared = prepared
}

// crash forgets what was not synced and returns what a restart reads.
func (d *disk) crash() pbft.Durable {
	d.unsynced = nil
	return pbft.Durable{
		View:         d.durable.View,
		ViewChanging: d.durable.ViewChanging,
		Stable:       d.durable.Stable,
		Log:          append([]*wire.Message(nil), d.durable.Log...),
		Committed:    append([]*wire.PrePrepare(nil), d.durable.Committed...),
		Prepared:     append([]*wire.PreparedCertificate(nil), d.durable.Prepared...),
	}
}

func sequenceOf(m *wire.Message) uint64 {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetSequence()
	case *wire.Message_Prepare:
		return c.Prepare.GetSequence()
	case *wire.Message_Commit:
		return c.Commit.GetSequence()
	}
	return 0
}
