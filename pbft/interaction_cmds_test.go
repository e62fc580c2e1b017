package pbft_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func (h *harness) run(d *datadriven.TestData) {
	switch d.Cmd {
	case "request":
		h.cmdRequest(d)
	case "resend":
		h.cmdResend(d)
	case "deliver":
		h.cmdDeliver(d)
	case "stabilize":
		h.cmdStabilize()
	case "pending":
		h.cmdPending()
	case "tick":
		h.cmdTick(d)
	case "isolate":
		for _, id := range h.list(d, "replica", nil) {
			h.isolated[replicaID(id)] = true
		}
		h.printf("isolated %s\n", strings.Join(h.list(d, "replica", nil), ","))
	case "heal":
		h.isolated = map[int]bool{}
		h.printf("all links up\n")
	case "forge":
		h.cmdForge(d)
	case "status":
		h.cmdStatus(d)
	case "replies":
		h.cmdReplies(d)
	case "crash":
		h.cmdCrash(d)
	case "restart":
		for _, id := range h.list(d, "replica", nil) {
			h.restart(replicaID(id))
		}
	default:
		d.Fatalf(h.t, "unknown command %q", d.Cmd)
	}
}

// list returns the values of key, or def when it is absent.
func (h *harness) list(d *datadriven.TestData, key string, def []string) []string {
	arg, ok := d.Arg(key)
	if !ok {
		return def
	}
	var out []string
	for _, v := range arg.Vals {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (h *harness) intArg(d *datadriven.TestData, key string, def int) int {
	d.MaybeScanArgs(h.t, key, &def)
	return def
}

func (h *harness) allReplicas() []string {
	ids := make([]string, h.n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

// request: client builds and signs a request (its session picks the next
// timestamp unless ts= is given) and sends it to the replicas on its own
// connection, or on another client's with via=.
func (h *harness) cmdRequest(d *datadriven.TestData) {
	c := h.client(h.list(d, "client", nil)[0])
	arg, _ := d.Arg("op")
	op, err := parseOp(arg.Vals)
	if err != nil {
		d.Fatalf(h.t, "%v", err)
	}
	readOnly := d.HasArg("read-only")
	var req *wire.Request
	if d.HasArg("ts") {
		req = &wire.Request{ClientKey: c.signer.PublicKey(), Timestamp: uint64(h.intArg(d, "ts", 0)),
			Operation: op, ReadOnly: readOnly}
		pbft.SignRequest(c.signer, clusterID, req)
	} else if req, err = c.session.Submit(op, readOnly); err != nil {
		h.printf("error: %v\n", err)
		return
	}
	if d.HasArg("badsig") {
		req = proto.Clone(req).(*wire.Request)
		req.Signature[0] ^= 1
	}
	name := h.reqName(req)
	h.requests[name], c.last = req, req
	if d.HasArg("hold") {
		h.printf("%s signed, not sent\n", name)
		return
	}
	h.sendRequest(d, c, req)
}

// resend: the client sends its last request (or req=) again.
func (h *harness) cmdResend(d *datadriven.TestData) {
	c := h.client(h.list(d, "client", nil)[0])
	req := c.last
	if name := h.list(d, "req", nil); name != nil {
		req = h.requests[name[0]]
	}
	if req == nil {
		d.Fatalf(h.t, "no request to resend")
	}
	h.sendRequest(d, c, req)
}

func (h *harness) sendRequest(d *datadriven.TestData, c *testClient, req *wire.Request) {
	via := c.name
	if v := h.list(d, "via", nil); v != nil {
		via = h.client(v[0]).name
	}
	to := h.list(d, "to", h.allReplicas())
	for _, r := range to {
		h.send(via, r, wireRequest(req))
	}
	h.printf("%s queued %s->%s\n", h.reqName(req), via, strings.Join(to, ","))
}

// deliver: deliver (or with drop, lose) every queued message matching the
// filters; messages sent meanwhile wait for the next deliver.
func (h *harness) cmdDeliver(d *datadriven.TestData) {
	from, to, types := h.list(d, "from", nil), h.list(d, "to", nil), h.list(d, "type", nil)
	seqs := h.list(d, "seq", nil)
	n := h.deliverWhere(func(e envelope) bool {
		return matches(e, from, to, types) && (seqs == nil || slices.Contains(seqs, msgSeq(e.msg)))
	}, d.HasArg("drop"))
	if n == 0 {
		h.printf("no messages\n")
	}
}

// stabilize: deliver everything until no message is in flight.
func (h *harness) cmdStabilize() {
	for round := 0; len(h.queue) > 0; round++ {
		if round == 1000 {
			h.t.Fatal("stabilize: still not quiet after 1000 rounds")
		}
		pending := h.queue
		h.queue = nil
		for _, e := range pending {
			h.deliver(e)
		}
	}
}

func (h *harness) cmdPending() {
	for _, e := range h.queue {
		h.printf("%s->%s %s\n", e.from, e.to, h.describe(e.msg, e.fromID))
	}
	if len(h.queue) == 0 {
		h.printf("no messages\n")
	}
}

// tick: n clock ticks at each named replica (default all).
func (h *harness) cmdTick(d *datadriven.TestData) {
	ids := h.list(d, "replica", h.allReplicas())
	n := h.intArg(d, "n", 1)
	for i := 1; i <= n; i++ {
		for _, s := range ids {
			id := replicaID(s)
			if h.down[id] {
				continue
			}
			h.replicas[id].Tick()
			if h.replicas[id].HasReady() {
				h.printf("%d tick %d:\n", id, i)
				h.flush(id)
			}
		}
	}
	h.printf("%d tick(s) at %s\n", n, strings.Join(ids, ","))
}

// tearPoint is where an armed crash lands inside a replica's next flush:
// after writes store operations, or (writes < 0) after sends messages.
type tearPoint struct{ writes, sends int }

// crash: the replicas stop now, keeping only what their stores synced; or,
// with after-writes=N or after-sends=N, inside their next flush: after N of
// the store's operations (the rest of the Ready is neither written nor
// sent; if it needed no more, the crash comes before its first send), or
// after N of its messages left.
func (h *harness) cmdCrash(d *datadriven.TestData) {
	ids := h.list(d, "replica", nil)
	for _, s := range ids {
		id := replicaID(s)
		switch {
		case d.HasArg("after-writes"):
			h.tear[id] = tearPoint{writes: h.intArg(d, "after-writes", 0)}
		case d.HasArg("after-sends"):
			h.tear[id] = tearPoint{writes: -1, sends: h.intArg(d, "after-sends", 0)}
		default:
			h.crash(id)
		}
	}
	if d.HasArg("after-writes") || d.HasArg("after-sends") {
		h.printf("crash armed at %s\n", strings.Join(ids, ","))
		return
	}
	h.printf("crashed %s\n", strings.Join(ids, ","))
}

// forge: queue a message from replica from= to to= (default every other
// replica), signed with replica signer='s key (default the one it names, by
// default from). The harness holds every key, so forge plays any faulty
// replica. digest= is the real digest observed for (view, seq) unless
// digest=wrong; a pre-prepare's digest is computed from reqs= unless wrong.
func (h *harness) cmdForge(d *datadriven.TestData) {
	from := h.intArg(d, "from", 0)
	replica := uint32(h.intArg(d, "replica", from))
	signer := h.signers[h.intArg(d, "signer", int(replica))]
	view, seq := uint64(h.intArg(d, "view", 0)), uint64(h.intArg(d, "seq", 0))
	var others []string
	for _, id := range h.allReplicas() {
		if id != strconv.Itoa(from) {
			others = append(others, id)
		}
	}
	to := h.list(d, "to", others)
	wrong := h.list(d, "digest", []string{""})[0] == "wrong"
	digest := func(seen map[[2]uint64]crypto.Digest, k [2]uint64) []byte {
		if wrong {
			w := crypto.Hash([]byte("wrong"))
			return w[:]
		}
		dg, ok := seen[k]
		if !ok {
			d.Fatalf(h.t, "no digest observed for view %d seq %d; say digest=wrong", k[0], k[1])
		}
		return dg[:]
	}
	var m *wire.Message
	var err error
	var sig *[]byte
	switch typ := h.list(d, "type", nil)[0]; typ {
	case "pre-prepare":
		pp := &wire.PrePrepare{View: view, Sequence: seq, Replica: replica}
		var ds []crypto.Digest
		for _, name := range h.list(d, "reqs", nil) {
			req := h.requests[name]
			if req == nil {
				d.Fatalf(h.t, "unknown request %s", name)
			}
			pp.Requests = append(pp.Requests, req)
			ds = append(ds, pbft.RequestDigest(clusterID, req))
		}
		bd := pbft.BatchDigest(clusterID, ds)
		pp.Digest = bd[:]
		if wrong {
			pp.Digest = digest(nil, [2]uint64{})
		}
		err = pbft.SignPrePrepare(signer, clusterID, pp)
		m, sig = &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}, &pp.Signature
	case "prepare":
		p := &wire.Prepare{View: view, Sequence: seq, Replica: replica, Digest: digest(h.prePrepares, [2]uint64{view, seq})}
		err = pbft.SignPrepare(signer, clusterID, p)
		m, sig = &wire.Message{Content: &wire.Message_Prepare{Prepare: p}}, &p.Signature
	case "commit":
		c := &wire.Commit{View: view, Sequence: seq, Replica: replica, Digest: digest(h.prePrepares, [2]uint64{view, seq})}
		err = pbft.SignCommit(signer, clusterID, c)
		m, sig = &wire.Message{Content: &wire.Message_Commit{Commit: c}}, &c.Signature
	case "checkpoint":
		seen := map[[2]uint64]crypto.Digest{}
		for s, dg := range h.checkpoints {
			seen[[2]uint64{0, s}] = dg
		}
		cp := &wire.Checkpoint{Sequence: seq, Replica: replica, StateDigest: digest(seen, [2]uint64{0, seq})}
		err = pbft.SignCheckpoint(signer, clusterID, cp)
		m, sig = &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}}, &cp.Signature
	case "request":
		// A request forwarded by a replica: the client's own signature.
		req := h.requests[h.list(d, "req", nil)[0]]
		if req == nil {
			d.Fatalf(h.t, "unknown request")
		}
		req = proto.Clone(req).(*wire.Request)
		m, sig = &wire.Message{Content: &wire.Message_Request{Request: req}}, &req.Signature
	default:
		d.Fatalf(h.t, "forge: unknown type %q", typ)
	}
	if err != nil {
		d.Fatalf(h.t, "forge: %v", err)
	}
	if d.HasArg("badsig") {
		(*sig)[0] ^= 1
	}
	for _, id := range to {
		h.send(strconv.Itoa(from), id, m)
	}
	h.printf("forged %d->%s %s\n", from, strings.Join(to, ","), h.describe(m, from))
}

// status: each replica's view, execution, watermark, log size, state digest
// and nonzero drop counters.
func (h *harness) cmdStatus(d *datadriven.TestData) {
	for _, s := range h.list(d, "replica", h.allReplicas()) {
		r := h.replicas[replicaID(s)]
		role := "backup"
		if r.Primary() == r.ID() {
			role = "primary"
		}
		sd := r.StateDigest()
		changing := ""
		if r.ViewChanging() {
			changing = " (changing)"
		}
		if h.down[int(r.ID())] {
			changing += " DOWN"
		}
		h.printf("%d: %s view=%d%s exec=%d h=%d slots=%d state=%s", r.ID(), role, r.View(), changing, r.LastExecuted(),
			r.StableCheckpoint(), r.RetainedSlots(), short(sd[:]))
		st := r.Stats()
		var drops []string
		for reason, n := range st.Dropped {
			if n > 0 {
				drops = append(drops, fmt.Sprintf("%s=%d", reason, n))
			}
		}
		slices.Sort(drops)
		if len(drops) > 0 {
			h.printf(" dropped: %s", strings.Join(drops, ", "))
		}
		h.printf("\n")
	}
}

// replies: the results the client accepted, in order.
func (h *harness) cmdReplies(d *datadriven.TestData) {
	c := h.client(h.list(d, "client", nil)[0])
	for _, res := range c.accepted {
		h.printf("%s.%d = %s (view %d)\n", c.name, res.Timestamp, describeResult(res.Result), res.View)
	}
	if out := c.session.Outstanding(); out != nil {
		h.printf("%s outstanding\n", h.reqName(out))
	}
	if len(c.accepted) == 0 && c.session.Outstanding() == nil {
		h.printf("nothing\n")
	}
}

func wireRequest(req *wire.Request) *wire.Message {
	return &wire.Message{Content: &wire.Message_Request{Request: req}}
}
