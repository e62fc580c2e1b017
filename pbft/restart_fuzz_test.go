package pbft

import (
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// encodeStore writes what store holds as FuzzRestart's input: the snapshot,
// and each record as kind, sequence (2 bytes), view (1 byte), data length
// (2 bytes) and data.
func encodeStore(tb testing.TB, store *MemStore) (snapshot, records []byte) {
	_, snapshot, err := store.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	recs, err := store.Load()
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range recs {
		records = append(records, byte(r.Kind))
		records = binary.BigEndian.AppendUint16(records, uint16(r.Sequence))
		records = append(records, byte(r.View))
		records = binary.BigEndian.AppendUint16(records, uint16(len(r.Data)))
		records = append(records, r.Data...)
	}
	return snapshot, records
}

// FuzzRestart restarts a replica from an arbitrary store: a snapshot and
// records of every kind, read back by the persistence rule as the driver
// reads its disk. A disk holds only what the replica wrote, but it can be
// damaged or written by an older version: loading or Restart must refuse
// what they cannot use, or start a replica that keeps its bounds and runs on
// (ticks, and the world's messages), never panic. Seeds are the world's
// replicas' stores.
func FuzzRestart(f *testing.F) {
	w := world(f)
	for i, store := range w.stores {
		snapshot, records := encodeStore(f, store)
		f.Add(snapshot, records, uint16(i))
	}
	f.Add([]byte{}, []byte{}, uint16(0))
	f.Add([]byte{0x22, 0x00}, []byte{byte(RecordCommitted), 0, 2, 0, 0, 2, 0x10, 0x01, byte(RecordView), 0, 1, 0xff, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, snapshot, records []byte, who uint16) {
		store := NewMemStore()
		if len(snapshot) > 0 {
			if err := store.PutSnapshot(uint64(len(snapshot)), snapshot); err != nil {
				t.Fatal(err)
			}
		}
		for len(records) >= 6 {
			rec := Record{Kind: RecordKind(records[0]%uint8(RecordStableProof) + 1),
				Sequence: uint64(binary.BigEndian.Uint16(records[1:])), View: uint64(records[3])}
			n := min(int(binary.BigEndian.Uint16(records[4:])), len(records)-6)
			rec.Data, records = records[6:6+n], records[6+n:]
			if err := store.Write([]Record{rec}, true); err != nil {
				t.Fatal(err)
			}
		}
		_, d, err := OpenPersister(store, uint32(who%fuzzN))
		if err != nil {
			return // the driver refuses to start
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
