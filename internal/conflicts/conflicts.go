// Package conflicts finds pairs of messages one replica signed that
// contradict each other. A correct replica never signs such a pair, whatever
// crashes: the simulator checks every message its honest replicas send, and
// the power-cut test every message its replica processes sent, against the
// same rules.
//
//   - two pre-prepares, prepares or commits for one (view, sequence number),
//     or two checkpoints for one sequence number, with different digests;
//   - two view changes for one new view whose prepared certificates differ
//     above the higher of their stable checkpoints (one lacks a certificate
//     the other has, or names another view or digest), or which claim one
//     stable checkpoint with different state digests. A replica that
//     restarts while changing views asks for the same view again, and its
//     stable checkpoint may have advanced meanwhile: that drops certificates
//     below it and is not a conflict;
//   - two new views for one view that re-issue different batches for a
//     sequence number, or different ranges.
//
// Signatures are not checked here: callers add only statements they verified
// or saw a correct replica send.
package conflicts

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Conflict is a pair of contradicting statements by one signer.
type Conflict struct {
	Signer        uint32
	First, Second *wire.Message
	// Why says how they contradict each other.
	Why string
}

func (c Conflict) String() string {
	return fmt.Sprintf("replica %d signed two %s for %s", c.Signer, plural[Kind(c.Second)], c.Why)
}

var plural = map[string]string{
	"pre-prepare": "pre-prepares", "prepare": "prepares", "commit": "commits",
	"checkpoint": "checkpoints", "view-change": "view changes", "new-view": "new views",
}

// Log holds the distinct statements added so far, by signer.
type Log struct {
	seen  map[string]bool // kind and signature of every statement added
	slots map[slotKey]*wire.Message
	vcs   map[viewKey][]*wire.Message
	nvs   map[viewKey][]*wire.Message
	// Benign counts pairs of view changes that differ only below a newer
	// stable checkpoint.
	Benign int
}

type slotKey struct {
	kind      string
	signer    uint32
	view, seq uint64
}

type viewKey struct {
	signer uint32
	view   uint64
}

// New returns an empty log.
func New() *Log {
	return &Log{seen: make(map[string]bool), slots: make(map[slotKey]*wire.Message),
		vcs: make(map[viewKey][]*wire.Message), nvs: make(map[viewKey][]*wire.Message)}
}

// Add records one signed statement (not the ones nested in it: see
// Statements) and returns the conflicts it has with earlier ones.
func (l *Log) Add(m *wire.Message) []Conflict {
	signer, sig, ok := signerOf(m)
	if !ok {
		return nil
	}
	k := Kind(m) + "\x00" + string(sig)
	if l.seen[k] {
		return nil
	}
	l.seen[k] = true
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit, *wire.Message_Checkpoint:
		view, seq, digest := slotOf(m)
		key := slotKey{kind: Kind(m), signer: signer, view: view, seq: seq}
		first := l.slots[key]
		if first == nil {
			l.slots[key] = m
			return nil
		}
		if _, _, d := slotOf(first); bytes.Equal(d, digest) {
			return nil
		}
		slot := fmt.Sprintf("view %d, sequence %d", view, seq)
		if key.kind == "checkpoint" {
			slot = fmt.Sprintf("sequence %d", seq)
		}
		return []Conflict{{Signer: signer, First: first, Second: m,
			Why: fmt.Sprintf("%s with digests %x and %x", slot, short(slotDigest(first)), short(digest))}}
	case *wire.Message_ViewChange:
		key := viewKey{signer: signer, view: c.ViewChange.GetNewView()}
		var out []Conflict
		for _, prev := range l.vcs[key] {
			if why := viewChangesConflict(prev.GetViewChange(), c.ViewChange); why != "" {
				out = append(out, Conflict{Signer: signer, First: prev, Second: m, Why: fmt.Sprintf("view %d: %s", key.view, why)})
			} else {
				l.Benign++
			}
		}
		l.vcs[key] = append(l.vcs[key], m)
		return out
	case *wire.Message_NewView:
		key := viewKey{signer: signer, view: c.NewView.GetView()}
		var out []Conflict
		for _, prev := range l.nvs[key] {
			if why := newViewsConflict(prev.GetNewView(), c.NewView); why != "" {
				out = append(out, Conflict{Signer: signer, First: prev, Second: m, Why: fmt.Sprintf("view %d: %s", key.view, why)})
			}
		}
		l.nvs[key] = append(l.nvs[key], m)
		return out
	}
	return nil
}

// Statements returns m and every signed message nested in it: a view
// change's checkpoint proof and prepared certificates, a new view's view
// changes and re-issued pre-prepares (and what those hold in turn).
func Statements(m *wire.Message) []*wire.Message {
	out := []*wire.Message{m}
	switch c := m.Content.(type) {
	case *wire.Message_ViewChange:
		for _, cp := range c.ViewChange.GetCheckpointProof() {
			out = append(out, &wire.Message{Content: &wire.Message_Checkpoint{Checkpoint: cp}})
		}
		for _, pc := range c.ViewChange.GetPrepared() {
			out = append(out, &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pc.GetPrePrepare()}})
			for _, p := range pc.GetPrepares() {
				out = append(out, &wire.Message{Content: &wire.Message_Prepare{Prepare: p}})
			}
		}
	case *wire.Message_NewView:
		for _, vc := range c.NewView.GetViewChanges() {
			out = append(out, Statements(&wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}})...)
		}
		for _, pp := range c.NewView.GetPrePrepares() {
			out = append(out, &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}})
		}
	}
	return out
}

// Signer is the replica that signed m, if m is a signed replica message.
func Signer(m *wire.Message) (uint32, bool) {
	id, _, ok := signerOf(m)
	return id, ok
}

func signerOf(m *wire.Message) (id uint32, sig []byte, ok bool) {
	switch c := m.GetContent().(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetReplica(), c.PrePrepare.GetSignature(), true
	case *wire.Message_Prepare:
		return c.Prepare.GetReplica(), c.Prepare.GetSignature(), true
	case *wire.Message_Commit:
		return c.Commit.GetReplica(), c.Commit.GetSignature(), true
	case *wire.Message_Checkpoint:
		return c.Checkpoint.GetReplica(), c.Checkpoint.GetSignature(), true
	case *wire.Message_ViewChange:
		return c.ViewChange.GetReplica(), c.ViewChange.GetSignature(), true
	case *wire.Message_NewView:
		return c.NewView.GetReplica(), c.NewView.GetSignature(), true
	}
	return 0, nil, false
}

// Kind names a signed message's type.
func Kind(m *wire.Message) string {
	switch m.GetContent().(type) {
	case *wire.Message_PrePrepare:
		return "pre-prepare"
	case *wire.Message_Prepare:
		return "prepare"
	case *wire.Message_Commit:
		return "commit"
	case *wire.Message_Checkpoint:
		return "checkpoint"
	case *wire.Message_ViewChange:
		return "view-change"
	case *wire.Message_NewView:
		return "new-view"
	}
	return fmt.Sprintf("%T", m.GetContent())
}

// viewChangesConflict says how two view changes of one replica for one view
// contradict each other, or "" when they do not.
func viewChangesConflict(a, b *wire.ViewChange) string {
	if a.GetStableSequence() == b.GetStableSequence() && !bytes.Equal(stableDigest(a), stableDigest(b)) {
		return fmt.Sprintf("stable checkpoint %d with state digests %x and %x", a.GetStableSequence(), short(stableDigest(a)), short(stableDigest(b)))
	}
	above := max(a.GetStableSequence(), b.GetStableSequence())
	pa, pb := preparedAbove(a, above), preparedAbove(b, above)
	seqs := make([]uint64, 0, len(pa)+len(pb))
	for s := range pa {
		seqs = append(seqs, s)
	}
	for s := range pb {
		if _, ok := pa[s]; !ok {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		x, okx := pa[s]
		y, oky := pb[s]
		switch {
		case !okx || !oky:
			return fmt.Sprintf("only one holds a prepared certificate for sequence %d above stable checkpoint %d", s, above)
		case x != y:
			return fmt.Sprintf("prepared certificates for sequence %d differ: %s and %s", s, x, y)
		}
	}
	return ""
}

func stableDigest(vc *wire.ViewChange) []byte {
	if proof := vc.GetCheckpointProof(); len(proof) > 0 {
		return proof[0].GetStateDigest()
	}
	return nil
}

// preparedAbove maps each sequence number above s a view change holds a
// prepared certificate for to "view/digest".
func preparedAbove(vc *wire.ViewChange, s uint64) map[uint64]string {
	out := make(map[uint64]string)
	for _, pc := range vc.GetPrepared() {
		pp := pc.GetPrePrepare()
		if pp.GetSequence() > s {
			out[pp.GetSequence()] = fmt.Sprintf("view %d/%x", pp.GetView(), short(pp.GetDigest()))
		}
	}
	return out
}

// newViewsConflict says how two new views of one primary for one view
// differ in what they re-issue, or "" when they do not.
func newViewsConflict(a, b *wire.NewView) string {
	pa, pb := a.GetPrePrepares(), b.GetPrePrepares()
	if len(pa) != len(pb) || len(pa) > 0 && pa[0].GetSequence() != pb[0].GetSequence() {
		return fmt.Sprintf("they re-issue %s and %s", reissued(pa), reissued(pb))
	}
	for i := range pa {
		if pa[i].GetSequence() != pb[i].GetSequence() || !bytes.Equal(pa[i].GetDigest(), pb[i].GetDigest()) {
			return fmt.Sprintf("different batches for sequence %d", pa[i].GetSequence())
		}
	}
	return ""
}

func reissued(pps []*wire.PrePrepare) string {
	if len(pps) == 0 {
		return "nothing"
	}
	return fmt.Sprintf("sequence numbers %d-%d", pps[0].GetSequence(), pps[len(pps)-1].GetSequence())
}

func slotOf(m *wire.Message) (view, seq uint64, digest []byte) {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetView(), c.PrePrepare.GetSequence(), c.PrePrepare.GetDigest()
	case *wire.Message_Prepare:
		return c.Prepare.GetView(), c.Prepare.GetSequence(), c.Prepare.GetDigest()
	case *wire.Message_Commit:
		return c.Commit.GetView(), c.Commit.GetSequence(), c.Commit.GetDigest()
	case *wire.Message_Checkpoint:
		return 0, c.Checkpoint.GetSequence(), c.Checkpoint.GetStateDigest()
	}
	return 0, 0, nil
}

func slotDigest(m *wire.Message) []byte { _, _, d := slotOf(m); return d }

func short(d []byte) []byte { return d[:min(len(d), 6)] }
