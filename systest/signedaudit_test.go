package systest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/conflicts"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// signedAudit checks that no replica signed two conflicting messages. It
// takes every message replicas sent (their sent logs) together with the
// signed messages nested in them (view changes carry checkpoint proofs and
// prepared certificates, new views carry view changes and re-issued
// pre-prepares), keeps each distinct signed statement once, verifies its
// signature against the cluster's keys, and compares what each signer signed
// by the rules of internal/conflicts, which the simulator checks too. A
// conflicting pair of slot messages is confirmed with pbft.CheckEvidence,
// the proof a replica keeps against an equivocator. A signature that does
// not verify is reported too: a correct replica never sends one.
type signedAudit struct {
	cluster string
	pubs    []crypto.PublicKey

	frames   int // top-level messages read
	torn     int // logs that ended in a torn frame
	relayed  int // top-level messages signed by another replica
	pending  []auditEntry
	seen     map[string]struct{} // transcript || signature
	verified int
	// per signer and message type, distinct verified statements
	counts map[uint32]map[string]int

	log *conflicts.Log

	benign      int // view-change variants that differ only below a newer stable checkpoint
	problems    []string
	conflicts   int
	conflictsBy map[uint32]int // by signer
	badSigs     int
}

type auditEntry struct {
	msg    *wire.Message
	item   crypto.Item
	signer uint32
	from   string // where it was found
}

func newSignedAudit(cluster string, pubs []crypto.PublicKey) *signedAudit {
	return &signedAudit{
		cluster: cluster, pubs: pubs, seen: make(map[string]struct{}),
		counts: make(map[uint32]map[string]int), log: conflicts.New(),
		conflictsBy: make(map[uint32]int),
	}
}

// readLog adds every message of a replica's sent log.
func (a *signedAudit) readLog(replica int, path string) error {
	msgs, torn, err := driver.ReadSentLog(path)
	if err != nil {
		return err
	}
	if torn {
		a.torn++
	}
	for i, m := range msgs {
		a.add(m, fmt.Sprintf("replica %d's log, message %d", replica, i), uint32(replica))
	}
	return nil
}

// add takes a message a replica sent (sender) and the signed ones inside it.
func (a *signedAudit) add(m *wire.Message, from string, sender uint32) {
	a.frames++
	if item, ok := pbft.SignatureOf(a.cluster, a.pubs, m); ok && !bytes.Equal(item.PublicKey, a.pubs[sender]) {
		a.relayed++
	}
	a.addSigned(m, from)
}

func (a *signedAudit) addSigned(m *wire.Message, from string) {
	item, ok := pbft.SignatureOf(a.cluster, a.pubs, m)
	if !ok {
		a.problems = append(a.problems, fmt.Sprintf("%s: a %s without a replica signature", from, conflicts.Kind(m)))
		return
	}
	k := string(item.Message) + "\x00" + string(item.Signature)
	if _, dup := a.seen[k]; !dup {
		a.seen[k] = struct{}{}
		a.pending = append(a.pending, auditEntry{msg: m, item: item, signer: signerOf(m), from: from})
	}
	switch c := m.Content.(type) {
	case *wire.Message_ViewChange:
		for _, cp := range c.ViewChange.GetCheckpointProof() {
			a.addSigned(&wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}}, from+" (checkpoint proof)")
		}
		for _, pc := range c.ViewChange.GetPrepared() {
			a.addSigned(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pc.GetPrePrepare()}}, from+" (prepared certificate)")
			for _, p := range pc.GetPrepares() {
				a.addSigned(&wire.Message{Content: &wire.Message_Prepare{Prepare: p}}, from+" (prepared certificate)")
			}
		}
	case *wire.Message_NewView:
		for _, vc := range c.NewView.GetViewChanges() {
			a.addSigned(&wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}}, from+" (new view)")
		}
		for _, pp := range c.NewView.GetPrePrepares() {
			a.addSigned(&wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}, from+" (new view)")
		}
	}
}

// check verifies the signatures of everything added since the last check
// (in parallel) and compares each verified statement with what its signer
// signed before.
func (a *signedAudit) check() {
	items := make([]crypto.Item, len(a.pending))
	for i, e := range a.pending {
		items[i] = e.item
	}
	ok := crypto.VerifyBatch(crypto.Ed25519Verifier{}, items)
	for i, e := range a.pending {
		if !ok[i] {
			a.badSigs++
			a.problems = append(a.problems, fmt.Sprintf("%s: replica %d's %s does not verify", e.from, e.signer, conflicts.Kind(e.msg)))
			continue
		}
		a.verified++
		kind := conflicts.Kind(e.msg)
		if a.counts[e.signer] == nil {
			a.counts[e.signer] = make(map[string]int)
		}
		a.counts[e.signer][kind]++
		a.compare(e)
	}
	a.pending = nil
}

func (a *signedAudit) conflict(signer uint32, format string, args ...any) {
	a.conflicts++
	a.conflictsBy[signer]++
	a.problems = append(a.problems, "CONFLICT: "+fmt.Sprintf(format, args...))
}

func (a *signedAudit) compare(e auditEntry) {
	for _, c := range a.log.Add(e.msg) {
		check := ""
		switch e.msg.Content.(type) {
		case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit, *wire.Message_Checkpoint:
			err := pbft.CheckEvidence(a.cluster, a.pubs, crypto.Ed25519Verifier{}, pbft.Evidence{Replica: c.Signer, First: c.First, Second: c.Second})
			check = "; evidence check: " + errOrValid(err)
		}
		a.conflict(c.Signer, "%s (%s%s)", c, e.from, check)
	}
	a.benign = a.log.Benign
}

func signerOf(m *wire.Message) uint32 {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetReplica()
	case *wire.Message_Prepare:
		return c.Prepare.GetReplica()
	case *wire.Message_Commit:
		return c.Commit.GetReplica()
	case *wire.Message_Checkpoint:
		return c.Checkpoint.GetReplica()
	case *wire.Message_ViewChange:
		return c.ViewChange.GetReplica()
	case *wire.Message_NewView:
		return c.NewView.GetReplica()
	}
	return 0
}

func errOrValid(err error) string {
	if err != nil {
		return err.Error()
	}
	return "valid proof of equivocation"
}

// summary is one line per signer: what it signed, by type.
func (a *signedAudit) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages read (%d relayed from another signer, %d torn log ends), %d distinct signed statements verified, %d bad signatures, %d conflicts, %d view-change re-sends differing only below a newer stable checkpoint",
		a.frames, a.relayed, a.torn, a.verified, a.badSigs, a.conflicts, a.benign)
	for id := range uint32(len(a.pubs)) {
		c := a.counts[id]
		fmt.Fprintf(&b, "\n  replica %d signed: %d pre-prepares, %d prepares, %d commits, %d checkpoints, %d view changes, %d new views",
			id, c["pre-prepare"], c["prepare"], c["commit"], c["checkpoint"], c["view-change"], c["new-view"])
	}
	return b.String()
}

// signAny signs any replica-signed message with key over the transcript
// pbft.SignatureOf names (the core exports no signer for view changes).
func signAny(t *testing.T, cluster string, pubs []crypto.PublicKey, key *crypto.PrivateKey, m *wire.Message) *wire.Message {
	t.Helper()
	item, ok := pbft.SignatureOf(cluster, pubs, m)
	if !ok {
		t.Fatalf("no transcript for %v", m)
	}
	sig := key.Sign(item.Message)
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		c.PrePrepare.Signature = sig
	case *wire.Message_Prepare:
		c.Prepare.Signature = sig
	case *wire.Message_Commit:
		c.Commit.Signature = sig
	case *wire.Message_Checkpoint:
		c.Checkpoint.Signature = sig
	case *wire.Message_ViewChange:
		c.ViewChange.Signature = sig
	case *wire.Message_NewView:
		c.NewView.Signature = sig
	}
	return m
}

// The audit has teeth: it accepts what correct replicas send (repeats, a
// relayed message, a view change re-sent after its stable checkpoint moved
// on) and reports each kind of conflicting pair and a bad signature.
func TestSignedAudit(t *testing.T) {
	const cluster = "audit-test"
	keys := make([]*crypto.PrivateKey, 4)
	pubs := make([]crypto.PublicKey, 4)
	for i := range keys {
		k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i] = k, k.PublicKey()
	}
	dig := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	sign := func(id int, m *wire.Message) *wire.Message { return signAny(t, cluster, pubs, keys[id], m) }
	pp := func(view, seq uint64, d byte) *wire.PrePrepare {
		m := sign(int(view%4), &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: &wire.PrePrepare{View: view, Sequence: seq, Digest: dig(d), Replica: uint32(view % 4)}}})
		return m.GetPrePrepare()
	}
	prep := func(id int, view, seq uint64, d byte) *wire.Message {
		return sign(id, &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{View: view, Sequence: seq, Digest: dig(d), Replica: uint32(id)}}})
	}
	commit := func(id int, view, seq uint64, d byte) *wire.Message {
		return sign(id, &wire.Message{Content: &wire.Message_Commit{Commit: &wire.Commit{View: view, Sequence: seq, Digest: dig(d), Replica: uint32(id)}}})
	}
	checkpoint := func(id int, seq uint64, d byte) *wire.Checkpoint {
		return sign(id, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: &wire.Checkpoint{Sequence: seq, StateDigest: dig(d), Replica: uint32(id)}}}).GetCheckpoint()
	}
	cert := func(view, seq uint64, d byte) *wire.PreparedCertificate {
		return &wire.PreparedCertificate{PrePrepare: pp(view, seq, d), Prepares: []*wire.Prepare{
			prep(1, view, seq, d).GetPrepare(), prep(2, view, seq, d).GetPrepare()}}
	}
	viewChange := func(id int, view, stable uint64, certs ...*wire.PreparedCertificate) *wire.Message {
		vc := &wire.ViewChange{NewView: view, StableSequence: stable, Prepared: certs, Replica: uint32(id)}
		if stable > 0 {
			vc.CheckpointProof = []*wire.Checkpoint{checkpoint(0, stable, 7), checkpoint(1, stable, 7), checkpoint(2, stable, 7)}
		}
		return sign(id, &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}})
	}
	newView := func(view uint64, vcs []*wire.Message, pps ...*wire.PrePrepare) *wire.Message {
		nv := &wire.NewView{View: view, PrePrepares: pps, Replica: uint32(view % 4)}
		for _, m := range vcs {
			nv.ViewChanges = append(nv.ViewChanges, m.GetViewChange())
		}
		return sign(int(view%4), &wire.Message{Content: &wire.Message_NewView{NewView: nv}})
	}

	honest := func() *signedAudit {
		a := newSignedAudit(cluster, pubs)
		vcs := []*wire.Message{viewChange(1, 1, 8, cert(0, 9, 3)), viewChange(2, 1, 8, cert(0, 9, 3)), viewChange(3, 1, 8)}
		for _, m := range []*wire.Message{
			{Content: &wire.Message_PrePrepare{PrePrepare: pp(0, 9, 3)}}, prep(1, 0, 9, 3), prep(1, 0, 9, 3), commit(1, 0, 9, 3),
			{Content: &wire.Message_Checkpoint{Checkpoint: checkpoint(1, 8, 7)}},
			vcs[0], vcs[0], vcs[1], vcs[2],
			// replica 2 restarted while changing views, after its stable
			// checkpoint moved past its one prepared certificate
			viewChange(2, 1, 16),
			newView(1, vcs, pp(1, 9, 3)), newView(1, vcs, pp(1, 9, 3)),
		} {
			a.add(m, "honest", signerOf(m))
		}
		a.add(vcs[0], "relayed by replica 3", 3)
		return a
	}
	a := honest()
	a.check()
	if len(a.problems) != 0 || a.conflicts != 0 || a.relayed != 1 || a.benign != 1 {
		t.Fatalf("honest messages: %d conflicts, %d relayed, %d benign, problems:\n%s", a.conflicts, a.relayed, a.benign, strings.Join(a.problems, "\n"))
	}
	t.Log(a.summary())

	forged := prep(3, 0, 9, 3)
	forged.GetPrepare().Signature[0] ^= 1
	for _, tc := range []struct {
		name string
		msgs []*wire.Message
		want string
	}{
		{"pre-prepare", []*wire.Message{{Content: &wire.Message_PrePrepare{PrePrepare: pp(0, 9, 4)}}}, "replica 0 signed two pre-prepares for view 0, sequence 9"},
		{"prepare", []*wire.Message{prep(1, 0, 9, 4)}, "replica 1 signed two prepares for view 0, sequence 9"},
		{"commit", []*wire.Message{commit(1, 0, 9, 4)}, "replica 1 signed two commits"},
		{"checkpoint", []*wire.Message{{Content: &wire.Message_Checkpoint{Checkpoint: checkpoint(1, 8, 9)}}}, "replica 1 signed two checkpoints"},
		{"prepare inside a certificate", []*wire.Message{viewChange(3, 1, 8, cert(0, 9, 5))}, "replica 1 signed two prepares for view 0, sequence 9"},
		{"view change missing a certificate", []*wire.Message{viewChange(1, 1, 8)}, "only one holds a prepared certificate for sequence 9"},
		{"view change with another certificate", []*wire.Message{viewChange(1, 1, 8, &wire.PreparedCertificate{PrePrepare: pp(4, 9, 3)})}, "prepared certificates for sequence 9 differ"},
		{"new view", []*wire.Message{newView(1, nil, pp(1, 9, 3), pp(1, 10, 0))}, "signed two new views for view 1"},
		{"forged signature", []*wire.Message{forged}, "replica 3's prepare does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := honest()
			for _, m := range tc.msgs {
				a.add(m, "bad", signerOf(m))
			}
			a.check()
			if len(a.problems) == 0 || !strings.Contains(strings.Join(a.problems, "\n"), tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, strings.Join(a.problems, "\n"))
			}
			t.Log(a.problems[0])
		})
	}
}

// auditSentLogs reads the sent log of every replica of pc (stopped, so the
// logs are complete), checks them and logs the summary.
func auditSentLogs(t *testing.T, pc *procCluster, logPath func(id int) string) *signedAudit {
	t.Helper()
	a := newSignedAudit(pc.c.File.ClusterID, pc.c.Pubs)
	for id := range pc.c.N() {
		if err := a.readLog(id, logPath(id)); err != nil {
			t.Fatalf("replica %d's sent log: %v", id, err)
		}
	}
	a.check()
	t.Logf("signed messages: %s", a.summary())
	return a
}
