package pbft_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/internal/conflicts"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// TestInteraction runs the protocol stories in testdata/*.txt, in the style of
// etcd-io/raft's interaction tests: real replica cores, a network the script
// delivers by hand, and a trace of every delivery, drop, execution and send.
// Regenerate the expected output with
//
//	go test ./pbft -run Interaction -rewrite
//
// Commands (handlers in interaction_cmds_test.go):
//
//	cluster n=4 [batch=1] [checkpoint=4] [window=8] [inflight=4] [status-ticks=2] [view-change-ticks=200]
//	request client=c1 op=(put,k,v) [ts=N] [to=(0,1)] [via=c2] [badsig] [hold] [read-only]
//	resend client=c1 [req=c1.1] [to=(..)]
//	deliver [from=(..)] [to=(..)] [type=(..)] [seq=(..)] [drop]
//	stabilize
//	pending
//	tick [replica=(..)] [n=1]
//	isolate replica=(..) / heal
//	forge from=3 type=prepare seq=1 [to=(..)] [view=0] [replica=N] [signer=N] [digest=wrong] [badsig] [reqs=(c1.1)] [req=c1.1]
//	status [replica=(..)]
//	replies client=c1
//	crash replica=(..) [after-writes=N | after-sends=N]
//	restart replica=(..)
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Ext(path) != ".txt" {
			return
		}
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "cluster" && h == nil {
				d.Fatalf(t, "%s before cluster", d.Cmd)
			}
			if d.Cmd == "cluster" {
				h = newHarness(t, d)
				return h.out()
			}
			h.t = t
			h.run(d)
			return h.out()
		})
	})
}

const clusterID = "interaction"

// harness is a cluster of real replica cores and client sessions joined by a
// network that delivers nothing on its own.
type harness struct {
	t        *testing.T
	n        int
	scheme   *cryptotest.Scheme
	signers  []crypto.Signer
	replicas []*pbft.Replica

	clients map[string]*testClient
	byKey   map[string]string // client public key -> name

	queue    []envelope
	isolated map[int]bool

	// Observed on the wire, so forged messages can name real digests.
	prePrepares map[[2]uint64]crypto.Digest // (view, seq) -> digest the primary proposed
	checkpoints map[uint64]crypto.Digest    // seq -> first state digest seen
	requests    map[string]*wire.Request    // "c1.3" -> the request

	// Each replica's disk, written by the persistence rule the driver uses,
	// and what it needs to restart from it.
	stores     []*pbft.MemStore
	persisters []*pbft.Persister
	configs    []pbft.Config
	down       map[int]bool
	// tear is a crash armed for a replica's next flush (see cmdCrash).
	tear map[int]tearPoint

	// Invariants checked as Readys are carried out.
	executed map[uint64]string // seq -> the batch executed there, by any replica
	signed   *conflicts.Log    // every statement the replicas signed, across restarts

	b strings.Builder
}

type testClient struct {
	name     string
	signer   crypto.Signer
	session  *client.Session
	last     *wire.Request
	accepted []client.Result
}

// envelope is a message in flight on one link.
type envelope struct {
	from, to     string // replica id or client name
	fromID, toID int    // replica id, or -1 for a client
	msg          *wire.Message
}

func newHarness(t *testing.T, d *datadriven.TestData) *harness {
	n := 4
	d.MaybeScanArgs(t, "n", &n)
	cfg := pbft.Config{CheckpointInterval: 4, MaxBatchSize: 1, StatusTicks: 2}
	scanU64(t, d, "checkpoint", &cfg.CheckpointInterval)
	scanU64(t, d, "window", &cfg.WindowSize)
	scanU64(t, d, "inflight", &cfg.MaxInflightBatches)
	scanU64(t, d, "status-ticks", &cfg.StatusTicks)
	scanU64(t, d, "view-change-ticks", &cfg.ViewChangeTicks)
	d.MaybeScanArgs(t, "batch", &cfg.MaxBatchSize)
	return newCluster(t, n, cfg)
}

// newCluster makes n replicas configured as cfg (identity, keys, verifier
// and a fresh kv store filled in), signing with the deterministic test scheme.
func newCluster(t *testing.T, n int, cfg pbft.Config) *harness {
	h := &harness{
		t: t, n: n, scheme: cryptotest.NewScheme(1),
		clients: map[string]*testClient{}, byKey: map[string]string{},
		isolated:    map[int]bool{},
		prePrepares: map[[2]uint64]crypto.Digest{},
		checkpoints: map[uint64]crypto.Digest{},
		requests:    map[string]*wire.Request{},
		executed:    map[uint64]string{},
		down:        map[int]bool{},
		tear:        map[int]tearPoint{},
		signed:      conflicts.New(),
	}
	pubs := make([]crypto.PublicKey, n)
	for i := range n {
		h.signers = append(h.signers, h.scheme.NewSigner(fmt.Sprintf("replica-%d", i)))
		pubs[i] = h.signers[i].PublicKey()
	}
	for i := range n {
		c := cfg
		c.ClusterID, c.ID, c.Replicas = clusterID, uint32(i), pubs
		c.Signer, c.Verifier, c.Service = h.signers[i], h.scheme, kv.New()
		r, err := pbft.New(c)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		store := pbft.NewMemStore()
		p, _, err := pbft.OpenPersister(store, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		h.replicas, h.configs = append(h.replicas, r), append(h.configs, c)
		h.stores, h.persisters = append(h.stores, store), append(h.persisters, p)
	}
	window := cfg.WindowSize
	if window == 0 {
		window = 2 * cfg.CheckpointInterval
	}
	h.printf("%d replicas (f=%d), primary 0, checkpoint every %d, window %d\n", n, (n-1)/3, cfg.CheckpointInterval, window)
	return h
}

func scanU64(t *testing.T, d *datadriven.TestData, key string, dst *uint64) {
	var v int
	if d.MaybeScanArgs(t, key, &v) {
		*dst = uint64(v)
	}
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(&h.b, format, args...) }

func (h *harness) out() string {
	s := h.b.String()
	h.b.Reset()
	return s
}

// client returns the named client, creating its key and session (session 0,
// timestamps from 1) on first use.
func (h *harness) client(name string) *testClient {
	if c := h.clients[name]; c != nil {
		return c
	}
	signer := h.scheme.NewSigner("client-" + name)
	s, err := client.NewSession(client.Config{
		ClusterID: clusterID, Replicas: h.n, Signer: signer, FirstTimestamp: 1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	c := &testClient{name: name, signer: signer, session: s}
	h.clients[name] = c
	h.byKey[string(signer.PublicKey())] = name
	return c
}

// send queues m on the link from -> to. A replica id is its decimal string.
func (h *harness) send(from, to string, m *wire.Message) {
	h.queue = append(h.queue, envelope{from: from, to: to, fromID: replicaID(from), toID: replicaID(to), msg: m})
}

func replicaID(s string) int {
	id, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return id
}

// deliver hands one message to its destination and carries out the Ready
// that results.
func (h *harness) deliver(e envelope) {
	h.printf("%s->%s %s", e.from, e.to, h.describe(e.msg, e.fromID))
	if h.isolated[e.fromID] || h.isolated[e.toID] {
		h.printf(" LOST (isolated)\n")
		return
	}
	if h.down[e.toID] {
		h.printf(" LOST (down)\n")
		return
	}
	h.printf("\n")
	if e.toID < 0 {
		h.toClient(e)
		return
	}
	if fb := e.msg.GetFetchBatch(); fb != nil {
		// The driver answers these from the replica's store.
		if answer := h.persisters[e.toID].AnswerFetchBatch(fb); answer != nil && e.fromID >= 0 {
			h.printf("  sends to %d from its store: %s\n", e.fromID, h.describe(answer, e.toID))
			h.send(e.to, e.from, answer)
		}
		return
	}
	from := pbft.FromReplica(uint32(e.fromID))
	if e.fromID < 0 {
		from = pbft.FromClient(h.clients[e.from].signer.PublicKey())
	}
	if err := h.replicas[e.toID].Step(from, e.msg); err != nil {
		h.printf("  dropped: %v\n", err)
	}
	h.flush(e.toID)
}

func (h *harness) toClient(e envelope) {
	c := h.clients[e.to]
	rep := e.msg.GetReply()
	if rep == nil || e.fromID < 0 {
		h.printf("  ignored: not a reply from a replica\n")
		return
	}
	res, ok := c.session.Step(uint32(e.fromID), rep)
	if !ok {
		return
	}
	c.accepted = append(c.accepted, res)
	h.printf("  %s accepts %s.%d = %s (view %d)\n", c.name, c.name, res.Timestamp, describeResult(res.Result), res.View)
}

// flush carries out replica id's Ready as the driver does: the persistence
// rule writes it to the replica's store, then its messages are queued.
// Before each message leaves it checks what a crash at that moment would
// keep: the binding a message reveals (its pre-prepare, prepare or commit,
// the view of a VIEW-CHANGE, a NEW-VIEW and the replica's low watermark)
// must already be durable. It also checks that executed batches agree across
// replicas and that no replica signs two conflicting messages, across
// restarts; an armed crash (cmdCrash) stops the replica inside the flush.
func (h *harness) flush(id int) {
	r := h.replicas[id]
	if !r.HasReady() || h.down[id] {
		return
	}
	rd := r.Ready()
	sends := -1 // the crash comes after this many sends; -1: no crash
	if tp, ok := h.tear[id]; ok {
		delete(h.tear, id)
		if tp.writes >= 0 {
			// Power is lost after that many store operations: if the Ready
			// needed no more, right after its writes, before any send.
			h.stores[id].FailAfter(tp.writes)
			sends = 0
		} else {
			sends = min(tp.sends, len(rd.Messages))
		}
	}
	if err := h.persisters[id].Persist(rd); err != nil {
		h.printf("  CRASH inside the write: %v\n", err)
		h.crash(id)
		return
	}
	if rd.Restored != nil {
		h.printf("  restored state at s=%d from replica %d\n", rd.Restored.GetSequence(), rd.Restored.GetReplica())
	}
	for _, ex := range rd.Executed {
		h.printExecuted(id, ex)
	}
	crashed := h.durableNow(id)
	for i, env := range rd.Messages {
		if i == sends {
			break
		}
		h.observe(env.Msg)
		if why := unbound(crashed, r, id, env.Msg); why != "" {
			h.t.Errorf("replica %d sent %s, but a crash would lose %s", id, h.describe(env.Msg, id), why)
			h.printf("  VIOLATION: sent before persisting %s\n", why)
		}
		for _, st := range conflicts.Statements(env.Msg) {
			if signer, _ := conflicts.Signer(st); int(signer) == id {
				for _, c := range h.signed.Add(st) {
					h.t.Errorf("%s", c)
					h.printf("  VIOLATION: %s\n", c)
				}
			}
		}
		me := strconv.Itoa(id)
		switch {
		case env.To == pbft.Broadcast:
			h.printf("  sends to all: %s\n", h.describe(env.Msg, id))
			for j := range h.n {
				if j != id {
					h.send(me, strconv.Itoa(j), env.Msg)
				}
			}
		case env.To == pbft.ToClient:
			name, ok := h.byKey[env.Client]
			if !ok {
				h.printf("  sends to an unknown client: %s\n", h.describe(env.Msg, id))
				continue
			}
			h.printf("  sends to %s: %s\n", name, h.describe(env.Msg, id))
			h.send(me, name, env.Msg)
		default:
			h.printf("  sends to %d: %s\n", env.To, h.describe(env.Msg, id))
			h.send(me, strconv.Itoa(env.To), env.Msg)
		}
	}
	if sends >= 0 {
		h.printf("  CRASH after %d of %d sends\n", sends, len(rd.Messages))
		h.crash(id)
	}
}

// durableNow is what replica id would restart from if it crashed now.
func (h *harness) durableNow(id int) pbft.Durable {
	disk := h.stores[id].Clone()
	disk.Crash()
	_, d, err := pbft.OpenPersister(disk, uint32(id))
	if err != nil {
		h.t.Fatalf("replica %d's store does not load: %v", id, err)
	}
	return d
}

// unbound says what m reveals that d, what a crash would keep, lacks.
func unbound(d pbft.Durable, r *pbft.Replica, id int, m *wire.Message) string {
	if low := max(d.Stable.GetSequence(), d.Low.GetSequence()); low < r.StableCheckpoint() {
		return fmt.Sprintf("its low watermark %d (the store has %d)", r.StableCheckpoint(), low)
	}
	holds := func(want *wire.Message) bool {
		for _, l := range d.Log {
			if sameStatement(l, want) {
				return true
			}
		}
		return false
	}
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit:
		if signer, _ := conflicts.Signer(m); int(signer) == id && !holds(m) {
			return "the message itself"
		}
	case *wire.Message_ViewChange:
		if v := c.ViewChange.GetNewView(); int(c.ViewChange.GetReplica()) == id && d.View < v {
			return fmt.Sprintf("view %d (the store has view %d)", v, d.View)
		}
	case *wire.Message_NewView:
		nv := c.NewView
		if int(nv.GetReplica()) == id && d.View == nv.GetView() && !proto.Equal(d.NewView, nv) {
			return "the NEW-VIEW"
		}
		if int(nv.GetReplica()) == id && d.View == nv.GetView() {
			for _, pp := range nv.GetPrePrepares() {
				if !holds(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}) {
					return fmt.Sprintf("its pre-prepare for s=%d", pp.GetSequence())
				}
			}
		}
		if int(nv.GetReplica()) == id && d.View < nv.GetView() {
			return fmt.Sprintf("view %d (the store has view %d)", nv.GetView(), d.View)
		}
	}
	return ""
}

// sameStatement: a and b say the same thing; a pre-prepare binds its
// digest whether or not it carries the requests.
func sameStatement(a, b *wire.Message) bool {
	if pa, pb := a.GetPrePrepare(), b.GetPrePrepare(); pa != nil && pb != nil {
		return pa.GetView() == pb.GetView() && pa.GetSequence() == pb.GetSequence() &&
			pa.GetReplica() == pb.GetReplica() && string(pa.GetDigest()) == string(pb.GetDigest())
	}
	return proto.Equal(a, b)
}

// crash stops replica id: nothing reaches it until restart, and its store
// keeps only what was synced.
func (h *harness) crash(id int) {
	h.down[id] = true
	h.stores[id].Crash()
}

// restart brings replica id back from its store with a fresh service.
func (h *harness) restart(id int) {
	p, d, err := pbft.OpenPersister(h.stores[id], uint32(id))
	if err != nil {
		h.t.Fatalf("replica %d: %v", id, err)
	}
	cfg := h.configs[id]
	cfg.Service = kv.New()
	r, err := pbft.Restart(cfg, d)
	if err != nil {
		h.printf("restart failed: %v\n", err)
		return
	}
	h.replicas[id], h.persisters[id] = r, p
	delete(h.down, id)
	h.printf("%d restarted: view=%d exec=%d h=%d\n", id, r.View(), r.LastExecuted(), r.StableCheckpoint())
	h.flush(id)
}

// observe records digests seen on the wire for forge to use.
func (h *harness) observe(m *wire.Message) {
	if pp := m.GetPrePrepare(); pp != nil {
		k := [2]uint64{pp.GetView(), pp.GetSequence()}
		if _, ok := h.prePrepares[k]; !ok {
			h.prePrepares[k] = crypto.Digest(pp.GetDigest())
		}
	}
	if cp := m.GetCheckpoint(); cp != nil {
		if _, ok := h.checkpoints[cp.GetSequence()]; !ok {
			h.checkpoints[cp.GetSequence()] = crypto.Digest(cp.GetStateDigest())
		}
	}
}

func (h *harness) printExecuted(id int, ex pbft.Executed) {
	var parts []string
	for i, req := range ex.Requests {
		if ex.Skipped[i] {
			parts = append(parts, h.reqName(req)+" skipped (already executed)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s = %s", h.reqName(req), describeOp(req.GetOperation()), describeResult(ex.Results[i])))
	}
	batch := strings.Join(parts, "; ")
	if len(parts) == 0 {
		batch = "null batch"
	}
	h.printf("  executes s=%d: %s\n", ex.Sequence, batch)
	// Agreement: every replica that executes s executes the same batch
	// (skips aside, which depend only on replicated state, so also agree).
	if prev, ok := h.executed[ex.Sequence]; ok && prev != batch {
		h.t.Errorf("replica %d executed s=%d as %q, another replica as %q", id, ex.Sequence, batch, prev)
		h.printf("  VIOLATION: another replica executed s=%d differently\n", ex.Sequence)
	}
	h.executed[ex.Sequence] = batch
}

// deliverWhere delivers (or with drop, loses) every queued message for which
// pick is true, in queue order, and returns how many. Messages they cause
// wait for the next call.
func (h *harness) deliverWhere(pick func(envelope) bool, drop bool) int {
	pending := h.queue
	h.queue = nil
	var keep []envelope
	n := 0
	for _, e := range pending {
		switch {
		case !pick(e):
			keep = append(keep, e)
		case drop:
			h.printf("%s->%s %s DROPPED\n", e.from, e.to, h.describe(e.msg, e.fromID))
			n++
		default:
			h.deliver(e)
			n++
		}
	}
	h.queue = append(keep, h.queue...)
	return n
}

// matches reports whether e passes the deliver filters.
func matches(e envelope, from, to, types []string) bool {
	in := func(list []string, v string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	return in(from, e.from) && in(to, e.to) && in(types, msgType(e.msg))
}
