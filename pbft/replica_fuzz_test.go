package pbft

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// FuzzReplica steps one replica with a sequence of messages and ticks read
// from the input, and checks after every step what must hold whatever its
// peers send: no panic; a dropped message is counted under the reason Step
// returns and changes neither view, watermark nor execution; view, stable
// checkpoint and execution only move forward; everything it holds stays
// within the window's bounds; it persists only what its driver can store and
// signs only what verifies; and, as the world's other replicas are honest
// but one, it executes no batch and installs no state the world did not
// commit.
//
// Input: [target][byzantine] then ops, each opening with a byte b; b%8 is
//
//	opTick    tick 1+b>>3 times
//	opDeliver [idx:2] the world's message idx, from its honest sender
//	opForge   [idx:2] then 1+(b>>3)%4 mutations [sel][value:8]: the message
//	          changed and signed by the Byzantine replica (b&0x80: the
//	          pre-prepare's digest made to match its batch first)
//	opRaw     [from][len:2][len bytes]: any encoded message from anyone
//	opRelay   [idx:2] the world's message idx, relayed by the Byzantine one
//
// (5 to 7 are opDeliver). Replaying the world's trace of a replica is a
// seed, so the fuzzer starts from runs that execute, checkpoint, transfer
// state and change views.
func FuzzReplica(f *testing.F) {
	w := world(f)
	for i := range w.traces {
		for byz := range uint32(fuzzN) {
			if byz != uint32(i) {
				f.Add(forgingTrace(w, uint32(i), byz, 3))
			}
		}
	}
	f.Add([]byte{0, 0, opRaw, 1, 0, 2, 0x0a, 0x00, 8<<3 | opTick})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		target := uint32(data[0] % fuzzN)
		byz := (target + 1 + uint32(data[1]%(fuzzN-1))) % fuzzN
		fz := newReplicaFuzz(t, w, target, byz)
		fz.run(data[2:])
	})
}

// forgeTarget is the field forgingTrace changes in each kind of message,
// and how (mutate's low two bits): a pre-prepare's batch no longer its
// digest, a NEW-VIEW without a re-issued pre-prepare, a VIEW-CHANGE without
// a prepared certificate, votes and checkpoints for another digest. Forged
// pre-prepares and NEW-VIEWs go before the real one (a correct replica
// refuses them, then accepts the real one); the others after it, since a
// replica's first vote is the one that counts, and with another replica
// cut off in the world a forged vote first would stall the target.
var forgeTarget = map[string]struct {
	field  string
	how    uint64
	before bool
}{
	"pre_prepare": {"requests", 0, true}, "new_view": {"pre_prepares", 0, true}, "view_change": {"prepared", 0, false},
	"prepare": {"digest", 0, false}, "commit": {"digest", 0, false}, "checkpoint": {"state_digest", 0, false},
}

// forgingTrace is replica target's trace in the world with byz as the
// Byzantine replica, which, around each of its first perKind messages of
// each kind in forgeTarget, sends the target a conflicting forgery of it.
func forgingTrace(w *fuzzWorld, target, byz uint32, perKind int) []byte {
	tr := w.traces[target]
	out := []byte{byte(target), byte((byz + fuzzN - target - 1) % fuzzN)}
	forged := make(map[string]int)
	for ops := tr[2:]; len(ops) > 0; {
		if ops[0]%8 != opDeliver {
			out, ops = append(out, ops[0]), ops[1:]
			continue
		}
		idx := int(ops[1])<<8 | int(ops[2])
		e := w.pool[idx]
		kind := string(e.msg.ProtoReflect().WhichOneof(e.msg.ProtoReflect().Descriptor().Oneofs().Get(0)).Name())
		var forgery []byte
		if ft, ok := forgeTarget[kind]; ok && e.from.Replica == int(byz) && forged[kind] < perKind {
			for sel, p := range mutationPoints(proto.Clone(e.msg).ProtoReflect()) {
				if string(p.fd.Name()) == ft.field {
					forged[kind]++
					forgery = binary.BigEndian.AppendUint64([]byte{opForge, ops[1], ops[2], byte(sel)}, ft.how)
					break
				}
			}
			if ft.before {
				out, forgery = append(out, forgery...), nil
			}
		}
		out, ops = append(out, ops[:3]...), ops[3:]
		out = append(out, forgery...)
	}
	return out
}

// replicaFuzz is one FuzzReplica run.
type replicaFuzz struct {
	t         *testing.T
	w         *fuzzWorld
	r         *Replica
	target    uint32
	byz       uint32
	view, low uint64
	exec      uint64
	// honest: the world's replicas other than byz are honest, so what
	// the target executes and installs must be what the world committed.
	honest bool
}

func newReplicaFuzz(t *testing.T, w *fuzzWorld, target, byz uint32) *replicaFuzz {
	return &replicaFuzz{t: t, w: w, r: w.newReplica(t, target), target: target, byz: byz, honest: true}
}

// maxFuzzSteps bounds one input's work.
const maxFuzzSteps = 4096

func (fz *replicaFuzz) run(ops []byte) {
	w := fz.w
	u16 := func() int {
		if len(ops) < 2 {
			ops = nil
			return -1
		}
		v := int(binary.BigEndian.Uint16(ops))
		ops = ops[2:]
		return v % len(w.pool)
	}
	for steps := 0; len(ops) > 0 && steps < maxFuzzSteps; steps++ {
		b := ops[0]
		ops = ops[1:]
		switch b % 8 {
		case opTick:
			for range 1 + b>>3 {
				fz.r.Tick()
				fz.ready()
			}
		case opForge:
			idx := u16()
			if idx < 0 {
				return
			}
			m := proto.Clone(w.pool[idx].msg).(*wire.Message)
			for range 1 + (b>>3)%4 {
				if len(ops) < 9 {
					return
				}
				mutate(m.ProtoReflect(), ops[0], binary.BigEndian.Uint64(ops[1:9]))
				ops = ops[9:]
			}
			fz.forge(m, b&0x80 != 0)
			fz.step(FromReplica(fz.byz), m)
		case opRaw:
			if len(ops) < 3 {
				return
			}
			from := fz.rawSender(ops[0])
			n := min(int(binary.BigEndian.Uint16(ops[1:])), len(ops)-3)
			var m *wire.Message
			if dec := (&wire.Message{}); proto.Unmarshal(ops[3:3+n], dec) == nil {
				m = dec
			}
			ops = ops[3+n:]
			fz.step(from, m)
		case opRelay:
			idx := u16()
			if idx < 0 {
				return
			}
			fz.step(FromReplica(fz.byz), proto.Clone(w.pool[idx].msg).(*wire.Message))
		default:
			idx := u16()
			if idx < 0 {
				return
			}
			e := w.pool[idx]
			if e.from.Replica == int(fz.target) {
				continue // a replica never receives its own messages
			}
			fz.step(e.from, proto.Clone(e.msg).(*wire.Message))
		}
	}
}

// rawSender maps a byte to a peer: a replica (never the target itself,
// whose place the Byzantine one takes), an id outside the cluster, or a
// client connection.
func (fz *replicaFuzz) rawSender(b byte) From {
	switch v := b % 8; {
	case v < fuzzN:
		if uint32(v) == fz.target {
			return FromReplica(fz.byz)
		}
		return FromReplica(uint32(v))
	case v == fuzzN:
		return From{Replica: fuzzN + int(b>>3)}
	case v == fuzzN+1 || v == fuzzN+2:
		return FromClient(fz.w.clients[v-fuzzN-1].PublicKey())
	default:
		k := sha256.Sum256([]byte{b})
		return FromClient(k[:])
	}
}

// forge makes m the Byzantine replica's own: it names it as the sender and
// signs it with its key (a faulty replica signs what it likes, never as
// another). With fixDigest a pre-prepare first gets its batch's digest.
func (fz *replicaFuzz) forge(m *wire.Message, fixDigest bool) {
	s := fz.w.signers[fz.byz]
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		pp := c.PrePrepare
		if fixDigest {
			digests := make([]crypto.Digest, len(pp.GetRequests()))
			for i, req := range pp.GetRequests() {
				digests[i] = RequestDigest(fuzzCluster, req)
			}
			d := BatchDigest(fuzzCluster, digests)
			pp.Digest = d[:]
		}
		pp.Replica = fz.byz
		_ = SignPrePrepare(s, fuzzCluster, pp)
	case *wire.Message_Prepare:
		c.Prepare.Replica = fz.byz
		_ = SignPrepare(s, fuzzCluster, c.Prepare)
	case *wire.Message_Commit:
		c.Commit.Replica = fz.byz
		_ = SignCommit(s, fuzzCluster, c.Commit)
	case *wire.Message_Checkpoint:
		c.Checkpoint.Replica = fz.byz
		_ = SignCheckpoint(s, fuzzCluster, c.Checkpoint)
	case *wire.Message_ViewChange:
		c.ViewChange.Replica = fz.byz
		c.ViewChange.Signature = s.Sign(viewChangeTranscript(fuzzCluster, c.ViewChange))
	case *wire.Message_NewView:
		c.NewView.Replica = fz.byz
		_ = SignNewView(s, fuzzCluster, c.NewView)
	case *wire.Message_Status:
		c.Status.Replica = fz.byz
	case *wire.Message_FetchState:
		c.FetchState.Replica = fz.byz
	case *wire.Message_StateChunk:
		c.StateChunk.Replica = fz.byz
	}
}

// mutationPoint is a field mutate can change: a scalar, bytes or list
// field of a message present in the tree.
type mutationPoint struct {
	m  protoreflect.Message
	fd protoreflect.FieldDescriptor
}

// mutationPoints lists m's mutation points, depth first in field order.
func mutationPoints(m protoreflect.Message) []mutationPoint {
	var points []mutationPoint
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.ContainingOneof() != nil && !m.Has(fd) {
				continue
			}
			switch {
			case fd.IsList():
				if m.Has(fd) {
					points = append(points, mutationPoint{m, fd})
					if fd.Kind() == protoreflect.MessageKind {
						l := m.Get(fd).List()
						for j := range l.Len() {
							walk(l.Get(j).Message())
						}
					}
				}
			case fd.Kind() == protoreflect.MessageKind:
				if m.Has(fd) {
					walk(m.Get(fd).Message())
				}
			default:
				points = append(points, mutationPoint{m, fd})
			}
		}
	}
	walk(m)
	return points
}

// mutate changes one field anywhere in m's tree: sel picks the mutation
// point, v says how (the low two bits) and to what.
func mutate(m protoreflect.Message, sel byte, v uint64) {
	points := mutationPoints(m)
	if len(points) == 0 {
		return
	}
	p := points[int(sel)%len(points)]
	how, arg := v&3, v>>2
	switch kind := p.fd.Kind(); {
	case p.fd.IsList(): // before the kinds: a repeated bytes field is a list, not bytes
		mutateList(p, how, arg)
	case kind == protoreflect.Uint64Kind:
		p.m.Set(p.fd, protoreflect.ValueOfUint64(mutateInt(p.m.Get(p.fd).Uint(), how, arg)))
	case kind == protoreflect.Uint32Kind:
		p.m.Set(p.fd, protoreflect.ValueOfUint32(uint32(mutateInt(p.m.Get(p.fd).Uint(), how, arg))))
	case kind == protoreflect.BoolKind:
		p.m.Set(p.fd, protoreflect.ValueOfBool(!p.m.Get(p.fd).Bool()))
	case kind == protoreflect.BytesKind:
		b := append([]byte(nil), p.m.Get(p.fd).Bytes()...)
		switch {
		case how == 0:
			h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, arg))
			b = h[:]
		case how == 1 && len(b) > 0:
			b[arg%uint64(len(b))] ^= 1 << (arg >> 8 % 8)
		case how == 2 && len(b) > 0:
			b = b[:arg%uint64(len(b))]
		default:
			b = append(b, byte(arg))
		}
		p.m.Set(p.fd, protoreflect.ValueOfBytes(b))
	}
}

// mutateList removes, duplicates, cuts at or swaps one element of a
// repeated field.
func mutateList(p mutationPoint, how, arg uint64) {
	l := p.m.Mutable(p.fd).List()
	n := l.Len()
	if n == 0 {
		return
	}
	k := int(arg % uint64(n))
	switch how {
	case 0: // remove element k
		for j := k; j+1 < n; j++ {
			l.Set(j, l.Get(j+1))
		}
		l.Truncate(n - 1)
	case 1: // duplicate it
		l.Append(l.Get(k))
	case 2: // cut the list at k
		l.Truncate(k)
	default: // swap it with the first
		a, b := l.Get(0), l.Get(k)
		l.Set(0, b)
		l.Set(k, a)
	}
}

func mutateInt(old, how, arg uint64) uint64 {
	switch how {
	case 0:
		return arg
	case 1:
		return old + 1 + arg%8
	case 2:
		return old - 1 - arg%8
	default:
		return ^uint64(0) - arg%4
	}
}

// step steps m from from and checks the drop contract.
func (fz *replicaFuzz) step(from From, m *wire.Message) {
	t, r := fz.t, fz.r
	before := r.Stats().Dropped
	view, low, exec := r.View(), r.StableCheckpoint(), r.LastExecuted()
	err := r.Step(from, m)
	if err != nil {
		after := r.Stats().Dropped
		counted := false
		for _, reason := range dropReasons {
			if errors.Is(err, reason) && after[reason.Error()] > before[reason.Error()] {
				counted = true
			}
		}
		if !counted {
			t.Fatalf("step %T from %+v: dropped without counting its reason: %v", m.GetContent(), from, err)
		}
		if r.View() != view || r.StableCheckpoint() != low || r.LastExecuted() != exec {
			t.Fatalf("a dropped %T moved the replica: view %d->%d, stable %d->%d, executed %d->%d (%v)",
				m.GetContent(), view, r.View(), low, r.StableCheckpoint(), exec, r.LastExecuted(), err)
		}
	}
	fz.ready()
}

// ready takes the replica's Ready, as its driver would, and checks it.
func (fz *replicaFuzz) ready() { fz.check(fz.r.Ready()) }

// check checks a Ready the replica just handed over, and the replica.
func (fz *replicaFuzz) check(rd Ready) {
	t, r, w := fz.t, fz.r, fz.w
	exec := fz.exec
	if rs := rd.Restored; rs != nil {
		if len(rs.GetCertificate()) == 0 {
			t.Fatal("restored a state without a certificate")
		}
		d, _ := digestOf(rs.GetCertificate()[0].GetStateDigest())
		if want, ok := w.stateAt[rs.GetSequence()]; fz.honest && ok && d != want {
			t.Fatalf("installed a state at %d the world never had", rs.GetSequence())
		}
		if rs.GetSequence() <= fz.exec {
			t.Fatalf("restored state at %d, having executed %d", rs.GetSequence(), fz.exec)
		}
	}
	for _, ex := range rd.Executed {
		if rs := rd.Restored; rs != nil && ex.Sequence == rs.GetSequence()+1 {
			exec = rs.GetSequence()
		}
		if ex.Sequence != exec+1 {
			t.Fatalf("executed %d after %d", ex.Sequence, exec)
		}
		exec = ex.Sequence
		d, err := digestOf(ex.PrePrepare.GetDigest())
		if err != nil {
			t.Fatalf("executed a batch with a malformed digest at %d", ex.Sequence)
		}
		digests := make([]crypto.Digest, len(ex.Requests))
		for i, req := range ex.Requests {
			digests[i] = RequestDigest(fuzzCluster, req)
		}
		if want, ok := w.committed[ex.Sequence]; fz.honest && ok && (d != want || BatchDigest(fuzzCluster, digests) != want) {
			t.Fatalf("executed at %d a batch the world did not commit there", ex.Sequence)
		}
		if len(ex.Requests) != len(ex.Skipped) || len(ex.Requests) != len(ex.Results) {
			t.Fatalf("executed %d requests with %d skip flags and %d results", len(ex.Requests), len(ex.Skipped), len(ex.Results))
		}
	}
	if rs := rd.Restored; rs != nil && rs.GetSequence() > exec {
		exec = rs.GetSequence()
	}
	if exec != r.LastExecuted() && (len(rd.Executed) > 0 || rd.Restored != nil) {
		t.Fatalf("Ready accounts for execution up to %d, the replica says %d", exec, r.LastExecuted())
	}
	if st := rd.Stable; st != nil {
		checkFuzzCertificate(t, w, st.GetSequence(), st.GetCertificate(), fz.honest)
	}
	for _, m := range rd.Persist {
		switch m.GetContent().(type) {
		case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit:
		default:
			t.Fatalf("asked to persist a %T, which the driver cannot store", m.GetContent())
		}
	}
	for _, env := range rd.Messages {
		if env.Msg == nil || env.To == int(fz.target) || env.To >= fuzzN || env.To < ToClient {
			t.Fatalf("sends %v to %d", env.Msg, env.To)
		}
		if item, ok := SignatureOf(fuzzCluster, w.pubs, env.Msg); ok && !w.scheme.Verify(item.PublicKey, item.Message, item.Signature) {
			t.Fatalf("sends a %T whose signature does not verify", env.Msg.GetContent())
		}
	}
	fz.exec = r.LastExecuted()
	fz.checkBounds()
}

// checkFuzzCertificate checks 2f+1 valid checkpoints of distinct replicas
// for seq, of a state the world had if it is honest.
func checkFuzzCertificate(t *testing.T, w *fuzzWorld, seq uint64, cert []*wire.Checkpoint, honest bool) {
	t.Helper()
	seen := make(map[uint32]bool)
	for _, cp := range cert {
		d, err := digestOf(cp.GetStateDigest())
		if err != nil || cp.GetSequence() != seq || string(cp.GetStateDigest()) != string(cert[0].GetStateDigest()) ||
			cp.GetReplica() >= fuzzN || seen[cp.GetReplica()] ||
			!w.scheme.Verify(w.pubs[cp.GetReplica()], checkpointTranscript(fuzzCluster, cp, d), cp.GetSignature()) {
			t.Fatalf("stable checkpoint %d with a bad certificate entry %v", seq, cp)
		}
		seen[cp.GetReplica()] = true
	}
	if len(seen) < 2*((fuzzN-1)/3)+1 {
		t.Fatalf("stable checkpoint %d certified by %d replicas", seq, len(seen))
	}
	if d, _ := digestOf(cert[0].GetStateDigest()); honest && d != w.stateAt[seq] {
		if _, ok := w.stateAt[seq]; ok {
			t.Fatalf("stable checkpoint %d of a state the world never had", seq)
		}
	}
}

// checkBounds checks that progress is monotonic and what the replica holds
// is bounded by its configuration, whatever it was sent.
func (fz *replicaFuzz) checkBounds() {
	t, r := fz.t, fz.r
	cfg := r.cfg
	if r.View() < fz.view || r.StableCheckpoint() < fz.low {
		t.Fatalf("view %d -> %d, stable checkpoint %d -> %d", fz.view, r.View(), fz.low, r.StableCheckpoint())
	}
	fz.view, fz.low = r.View(), r.StableCheckpoint()
	rt := r.Retained()
	perWindow := int(cfg.WindowSize / cfg.CheckpointInterval)
	switch {
	case rt.Slots > int(cfg.WindowSize):
		t.Fatalf("%d log slots, window %d", rt.Slots, cfg.WindowSize)
	case rt.Checkpoints > 2*perWindow+1+fuzzN:
		t.Fatalf("%d checkpoints held", rt.Checkpoints)
	case rt.Snapshots > 2*perWindow+1: // [prevLow, low+L], low at most L above prevLow
		t.Fatalf("%d snapshots held", rt.Snapshots)
	case rt.Queued > cfg.MaxQueuedRequests:
		t.Fatalf("%d requests queued, limit %d", rt.Queued, cfg.MaxQueuedRequests)
	}
	for seq := range r.slots {
		if !r.inWindow(seq) {
			t.Fatalf("a slot at %d outside the window (%d, %d]", seq, r.low, r.low+cfg.WindowSize)
		}
	}
	if len(r.viewChanges) > int(cfg.MaxFutureViews)+1 {
		t.Fatalf("view changes held for %d views", len(r.viewChanges))
	}
	for v := range r.viewChanges {
		if v < r.view || v > r.view+cfg.MaxFutureViews {
			t.Fatalf("view changes held for view %d in view %d", v, r.view)
		}
	}
	held := 0
	for _, c := range r.transfer.chunks {
		held += len(c)
	}
	if held > cfg.MaxStateSize+cfg.StateChunkSize {
		t.Fatalf("%d bytes of state transfer held, limit %d", held, cfg.MaxStateSize)
	}
}
