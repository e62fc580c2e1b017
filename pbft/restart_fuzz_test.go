package pbft

import (
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Record kinds of FuzzRestart's input, as the driver stores them.
const (
	restartLog       = 0 // a persisted pre-prepare, prepare or commit
	restartCommitted = 1 // a committed batch's pre-prepare
	restartPrepared  = 2 // a prepared certificate
	restartKinds     = 3
)

// encodeDurable writes d as FuzzRestart's input.
func encodeDurable(tb testing.TB, d Durable) (stable, records []byte) {
	add := func(kind byte, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		records = append(records, kind)
		records = binary.BigEndian.AppendUint16(records, uint16(len(b)))
		records = append(records, b...)
	}
	for _, m := range d.Log {
		add(restartLog, m)
	}
	for _, pp := range d.Committed {
		add(restartCommitted, pp)
	}
	for _, pc := range d.Prepared {
		add(restartPrepared, pc)
	}
	if d.Stable != nil {
		var err error
		if stable, err = proto.Marshal(d.Stable); err != nil {
			tb.Fatal(err)
		}
	}
	return stable, records
}

// FuzzRestart restarts a replica from arbitrary durable state decoded the
// way the driver decodes its store: the stable snapshot, the log records,
// the committed batches and prepared certificates, and the view. A disk
// holds only what the replica wrote, but it can be damaged or written by an
// older version: Restart must refuse what it cannot use or start a replica
// that keeps its bounds and runs on (ticks, and the world's messages), never
// panic. Seeds are what the world's replicas persisted.
func FuzzRestart(f *testing.F) {
	w := world(f)
	for i, d := range w.durable {
		stable, records := encodeDurable(f, d)
		f.Add(stable, records, d.View, d.ViewChanging, uint16(i))
	}
	f.Add([]byte{}, []byte{}, uint64(0), false, uint16(0))
	f.Add([]byte{0x22, 0x00}, []byte{restartCommitted, 0, 2, 0x10, 0x01}, uint64(1<<63), true, uint16(1))
	f.Fuzz(func(t *testing.T, stable, records []byte, view uint64, changing bool, who uint16) {
		d := Durable{View: view, ViewChanging: changing}
		if len(stable) > 0 {
			d.Stable = &wire.StateSnapshot{}
			if proto.Unmarshal(stable, d.Stable) != nil {
				return // the driver refuses to start
			}
		}
		for len(records) >= 3 {
			kind := records[0] % restartKinds
			n := min(int(binary.BigEndian.Uint16(records[1:])), len(records)-3)
			b := records[3 : 3+n]
			records = records[3+n:]
			var err error
			switch kind {
			case restartLog:
				m := &wire.Message{}
				err = proto.Unmarshal(b, m)
				d.Log = append(d.Log, m)
			case restartCommitted:
				pp := &wire.PrePrepare{}
				err = proto.Unmarshal(b, pp)
				d.Committed = append(d.Committed, pp)
			default:
				pc := &wire.PreparedCertificate{}
				err = proto.Unmarshal(b, pc)
				d.Prepared = append(d.Prepared, pc)
			}
			if err != nil {
				return // the driver refuses to start
			}
		}
		id := uint32(who % fuzzN)
		r, err := Restart(w.config(id), d)
		if err != nil {
			return
		}
		// What the disk held is not the world's: only the replica's own
		// bounds and contracts are checked from here on.
		fz := &replicaFuzz{t: t, w: w, r: r, target: id, byz: (id + 1) % fuzzN,
			view: r.View(), low: r.StableCheckpoint(), exec: r.LastExecuted()}
		fz.ready()
		for i := range 3 {
			for range fz.r.cfg.StatusTicks {
				fz.r.Tick()
				fz.ready()
			}
			// Some of the world's messages, from their senders.
			for j := int(who) + i; j < len(w.pool); j += 5 + int(who%7) {
				if e := w.pool[j]; e.from.Replica != int(id) {
					fz.step(e.from, proto.Clone(e.msg).(*wire.Message))
				}
			}
		}
	})
}
