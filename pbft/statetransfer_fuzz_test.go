package pbft

import (
	"bytes"
	"slices"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// transferSetup is how FuzzStateTransfer brings a fresh replica to ask for
// state: the world's certificate of a stable checkpoint far beyond it, and
// the state the world served for it.
type transferSetup struct {
	seq  uint64
	cert []*wire.Checkpoint
	blob []byte // the world's encoded StateBlob at seq
}

// worldTransfer finds the first state transfer of the world: the chunks
// one peer served for one sequence number, all of them.
func worldTransfer(tb testing.TB, w *fuzzWorld) transferSetup {
	type key struct {
		replica uint32
		seq     uint64
	}
	chunks := make(map[key][]*wire.StateChunk)
	var order []key
	for _, e := range w.pool {
		sc := e.msg.GetStateChunk()
		if sc == nil {
			continue
		}
		k := key{sc.GetReplica(), sc.GetSequence()}
		if chunks[k] == nil {
			order = append(order, k)
		}
		chunks[k] = append(chunks[k], sc)
	}
	for _, k := range order {
		cs := chunks[k]
		slices.SortFunc(cs, func(a, b *wire.StateChunk) int { return int(a.GetChunk()) - int(b.GetChunk()) })
		cs = slices.CompactFunc(cs, func(a, b *wire.StateChunk) bool { return a.GetChunk() == b.GetChunk() })
		if uint32(len(cs)) != cs[0].GetChunks() || cs[0].GetChunk() != 0 {
			continue
		}
		var blob []byte
		for _, c := range cs {
			blob = append(blob, c.GetData()...)
		}
		return transferSetup{seq: k.seq, cert: cs[0].GetCertificate(), blob: blob}
	}
	tb.Fatal("the world has no complete state transfer")
	return transferSetup{}
}

// FuzzStateTransfer feeds a replica that asked for state arbitrary
// StateChunks: the blob is cut into chunks, and plan bytes send them out of
// order, repeated, from the wrong peer, for the wrong sequence number or
// total, oversized, without a certificate, with ticks between. With
// certify the cluster's other three replicas sign whatever state the blob
// decodes to (beyond f, to reach installation with arbitrary contents);
// without, the certificate is the world's, so only the world's state may
// be installed. Nothing panics, drops keep their contract, the replica's
// bounds hold, and a state it installs hashes to the certified digest.
func FuzzStateTransfer(f *testing.F) {
	w := world(f)
	setup := worldTransfer(f, w)
	f.Add(setup.blob, []byte{}, false)
	f.Add(setup.blob, []byte{}, true)
	f.Add(setup.blob, []byte{0x01, 0x00, 0x40, 0x04, 0x08, 0x10, 0x20, 0x80}, false)
	flipped := append([]byte(nil), setup.blob...)
	flipped[len(flipped)-1] ^= 1
	f.Add(flipped, []byte{}, false)
	blob := encodeState([]byte{1, 2, 3}, clientTable{sessions: []sessionEntry{
		{key: sessionKey{client: string(make([]byte, 32)), session: 1}, ts: 1, seq: 1, result: []byte("r")}}})
	f.Add(blob, []byte{}, true)
	f.Add([]byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, blob, plan []byte, certify bool) {
		const target = 3
		wholeWorld := len(plan) == 0 && bytes.Equal(blob, setup.blob)
		fz := newReplicaFuzz(t, w, target, 0)
		seq, cert := setup.seq, setup.cert
		if certify {
			fz.honest = false
			seq, cert = setup.seq, certifyBlob(w, setup.seq, blob)
		}
		// The certificate's checkpoints, from their signers, make the
		// replica see a stable checkpoint far beyond its window.
		for _, cp := range cert {
			if cp.GetReplica() != target {
				fz.step(FromReplica(cp.GetReplica()), &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
			}
		}
		peer, ok := fz.awaitFetch()
		if !ok {
			t.Fatal("the replica never asked for state")
		}
		size := fz.r.cfg.StateChunkSize
		total := uint32(chunkCount(len(blob), size))
		tree := buildTree(fuzzCluster, blob, size)
		root := tree.root()
		chunk := func(i uint32) []byte {
			lo := min(int(i)*size, len(blob))
			return blob[lo:min(lo+size, len(blob))]
		}
		proof := func(i uint32) [][]byte {
			if i >= total {
				return nil
			}
			return tree.proof(int(i))
		}
		next := uint32(0)
		for steps := 0; steps < 64 && fz.r.LastExecuted() < seq; steps++ {
			p := byte(0)
			if len(plan) > 0 {
				p, plan = plan[0], plan[1:]
			} else if next >= total {
				break
			}
			i := next
			switch p & 3 {
			case 1:
				i = next + 1
			case 2:
				i = max(next, 1) - 1
			case 3:
				i = 0
			}
			sc := &wire.StateChunk{Sequence: seq, Chunk: i, Chunks: total, Data: chunk(i), Replica: peer, Proof: proof(i)}
			if i == 0 && p&0x80 == 0 {
				sc.Certificate, sc.Root, sc.Size = cert, root[:], uint64(len(blob))
			}
			if p&0x03 == 0x03 && len(sc.Proof) > 0 {
				sc.Proof = sc.Proof[1:] // a path that proves nothing
			}
			if p&0x04 != 0 {
				sc.Sequence++
			}
			if p&0x08 != 0 {
				sc.Chunks++
			}
			if p&0x10 != 0 {
				sc.Replica = (peer + 1) % fuzzN
			}
			if p&0x20 != 0 {
				sc.Data = append(append([]byte(nil), sc.Data...), make([]byte, size)...)
			}
			if p&0x40 != 0 {
				for range 2 * fz.r.cfg.StatusTicks {
					fz.r.Tick()
					fz.ready()
				}
			}
			fz.step(FromReplica(sc.Replica), &wire.Message{Content: &wire.Message_StateChunk{StateChunk: sc}})
			if sc.Replica == peer && sc.Chunk == next && p&0x3c == 0 {
				next++
			}
			if fz.r.transfer.peer != peer {
				// It gave up on this peer (a bad chunk): serve as the next.
				peer, next = fz.r.transfer.peer, 0
			}
		}
		if wholeWorld && fz.r.Stats().StateTransfers == 0 {
			t.Fatal("the world's state, served in order, was not installed")
		}
		if fz.r.Stats().StateTransfers > 0 {
			d, _ := digestOf(cert[0].GetStateDigest())
			if fz.r.StateDigest() != d {
				t.Fatal("installed a state that does not hash to its certificate's digest")
			}
		}
		// It carries on from there.
		for range 8 {
			fz.r.Tick()
			fz.ready()
		}
	})
}

// awaitFetch ticks the replica until it sends a FetchState and returns the
// peer asked.
func (fz *replicaFuzz) awaitFetch() (uint32, bool) {
	for range 8 * fz.r.cfg.StatusTicks {
		fz.r.Tick()
		rd := fz.r.Ready()
		fz.check(rd)
		for _, env := range rd.Messages {
			if env.Msg.GetFetchState() != nil {
				return uint32(env.To), true
			}
		}
	}
	return 0, false
}

// certifyBlob has the three replicas other than 3 sign checkpoints at seq
// for the state digest of blob, whatever it holds.
func certifyBlob(w *fuzzWorld, seq uint64, blob []byte) []*wire.Checkpoint {
	cfg := w.config(0)
	d := stateDigestOf(fuzzCluster, buildTree(fuzzCluster, blob, cfg.StateChunkSize).root(), len(blob))
	var cert []*wire.Checkpoint
	for id := range uint32(3) {
		cp := &wire.Checkpoint{Sequence: seq, StateDigest: d[:], Replica: id}
		_ = SignCheckpoint(w.signers[id], fuzzCluster, cp)
		cert = append(cert, cp)
	}
	return cert
}
