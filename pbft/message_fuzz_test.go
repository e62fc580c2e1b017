package pbft

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// FuzzMessage decodes arbitrary bytes as the envelope every frame carries
// and runs what the driver and the core apply to a message: the driver's
// signature extraction (SignatureOf), evidence checking against a second
// message, and Step into a replica brought to a point of the world's run
// (a prefix of one replica's trace). Nothing panics; a decoded message
// survives encoding and decoding again unchanged; SignatureOf names a
// cluster replica and exactly the message's signature; evidence verifies
// only for two differing claims on one slot; and Step keeps the drop
// contract and the replica's bounds (see FuzzReplica).
func FuzzMessage(f *testing.F) {
	w := world(f)
	for i, e := range w.pool {
		if i%7 != 0 {
			continue
		}
		b, err := proto.Marshal(e.msg)
		if err != nil {
			f.Fatal(err)
		}
		from := byte(e.from.Replica)
		if e.from.Replica < 0 {
			from = fuzzN + 1
		}
		f.Add(b, []byte{}, from, uint16(i*4))
	}
	f.Add([]byte{}, []byte{}, byte(0), uint16(0))
	f.Add([]byte{0x12, 0x00}, []byte{0x12, 0x00}, byte(1), uint16(1)) // an empty pre-prepare, twice
	f.Fuzz(func(t *testing.T, a, b []byte, from byte, point uint16) {
		m := &wire.Message{}
		if proto.Unmarshal(a, m) != nil {
			return
		}
		enc, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		again := &wire.Message{}
		if err := proto.Unmarshal(enc, again); err != nil || !proto.Equal(m, again) {
			t.Fatalf("a message changed through encoding and decoding (%v)", err)
		}
		if item, ok := SignatureOf(fuzzCluster, w.pubs, m); ok {
			if !bytes.Equal(item.Signature, signatureOfAny(m)) || !pubIn(w, item.PublicKey) {
				t.Fatal("SignatureOf names another signature or a key outside the cluster")
			}
		}
		other := &wire.Message{}
		if proto.Unmarshal(b, other) == nil {
			for id := range uint32(fuzzN) {
				e := Evidence{Replica: id, First: m, Second: other}
				if CheckEvidence(fuzzCluster, w.pubs, w.scheme, e) != nil {
					continue
				}
				x, err1 := claimOf(fuzzCluster, m)
				y, err2 := claimOf(fuzzCluster, other)
				if err1 != nil || err2 != nil || x.kind != y.kind || x.seq != y.seq || x.view != y.view ||
					bytes.Equal(x.digest, y.digest) || x.replica != id || y.replica != id {
					t.Fatalf("evidence against %d accepted for %v and %v", id, m, other)
				}
			}
		}
		// A replica at a point of the world's run: replica point%4's trace
		// replayed up to its (point/4%5)th quarter.
		tr := w.traces[int(point)%fuzzN]
		ops := tr[2 : 2+(len(tr)-2)*int(point/fuzzN%5)/4]
		fz := newReplicaFuzz(t, w, uint32(tr[0]), (uint32(tr[0])+1)%fuzzN)
		fz.run(ops)
		fz.step(fz.rawSender(from), m)
		for range 4 {
			fz.r.Tick()
			fz.ready()
		}
	})
}

// signatureOfAny is the signature field of whatever m carries, if any.
func signatureOfAny(m *wire.Message) []byte {
	pm := m.ProtoReflect()
	fd := pm.WhichOneof(pm.Descriptor().Oneofs().ByName("content"))
	if fd == nil {
		return nil
	}
	inner := pm.Get(fd).Message()
	sig := inner.Descriptor().Fields().ByName("signature")
	if sig == nil {
		return nil
	}
	return inner.Get(sig).Bytes()
}

func pubIn(w *fuzzWorld, pub []byte) bool {
	for _, p := range w.pubs {
		if bytes.Equal(p, pub) {
			return true
		}
	}
	return false
}
