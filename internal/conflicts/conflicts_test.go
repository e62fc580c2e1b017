package conflicts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func digest(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// sig makes every statement distinct, as a real signature would.
func sig(parts ...byte) []byte { return append([]byte("sig"), parts...) }

func prepare(id uint32, view, seq uint64, d byte) *wire.Message {
	return &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{View: view, Sequence: seq, Digest: digest(d),
		Replica: id, Signature: sig(byte(id), byte(view), byte(seq), d)}}}
}

func checkpoint(id uint32, seq uint64, d byte) *wire.Checkpoint {
	return &wire.Checkpoint{Sequence: seq, StateDigest: digest(d), Replica: id, Signature: sig(byte(id), byte(seq), d, 'c')}
}

func cert(view, seq uint64, d byte) *wire.PreparedCertificate {
	return &wire.PreparedCertificate{PrePrepare: &wire.PrePrepare{View: view, Sequence: seq, Digest: digest(d), Replica: uint32(view % 4),
		Signature: sig(byte(view), byte(seq), d, 'p')}}
}

func viewChange(id uint32, view, stable uint64, tag byte, certs ...*wire.PreparedCertificate) *wire.Message {
	vc := &wire.ViewChange{NewView: view, StableSequence: stable, Prepared: certs, Replica: id, Signature: sig(byte(id), byte(view), byte(stable), tag)}
	if stable > 0 {
		vc.CheckpointProof = []*wire.Checkpoint{checkpoint(0, stable, 7), checkpoint(1, stable, 7), checkpoint(2, stable, 7)}
	}
	return &wire.Message{Content: &wire.Message_ViewChange{ViewChange: vc}}
}

func newView(view uint64, tag byte, pps ...*wire.PrePrepare) *wire.Message {
	return &wire.Message{Content: &wire.Message_NewView{NewView: &wire.NewView{View: view, PrePrepares: pps,
		Replica: uint32(view % 4), Signature: sig(byte(view), tag, 'n')}}}
}

// Each rule flags its conflicting pair and lets through what a correct
// replica sends: repeats, the same statement re-signed, a view change re-sent
// after its stable checkpoint moved past its certificates.
func TestConflicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []*wire.Message
		want string // "" if no conflict
	}{
		{"repeated prepare", []*wire.Message{prepare(1, 0, 9, 3), prepare(1, 0, 9, 3)}, ""},
		{"prepares for other slots", []*wire.Message{prepare(1, 0, 9, 3), prepare(1, 1, 9, 4), prepare(1, 0, 10, 4)}, ""},
		{"two prepares for one slot", []*wire.Message{prepare(1, 0, 9, 3), prepare(1, 0, 9, 4)}, "replica 1 signed two prepares for view 0, sequence 9"},
		{"two checkpoints", []*wire.Message{{Content: &wire.Message_Checkpoint{Checkpoint: checkpoint(2, 8, 1)}},
			{Content: &wire.Message_Checkpoint{Checkpoint: checkpoint(2, 8, 2)}}}, "replica 2 signed two checkpoints for sequence 8"},
		{"view change re-sent after its checkpoint moved on", []*wire.Message{viewChange(1, 1, 8, 'a', cert(0, 9, 3)), viewChange(1, 1, 16, 'b')}, ""},
		{"view change dropping a certificate", []*wire.Message{viewChange(1, 1, 8, 'a', cert(0, 9, 3)), viewChange(1, 1, 8, 'b')},
			"only one holds a prepared certificate for sequence 9"},
		{"view change with another certificate", []*wire.Message{viewChange(1, 1, 8, 'a', cert(0, 9, 3)), viewChange(1, 1, 8, 'b', cert(4, 9, 3))},
			"prepared certificates for sequence 9 differ"},
		{"new views re-issuing other batches", []*wire.Message{newView(1, 'a', cert(1, 9, 3).GetPrePrepare()), newView(1, 'b', cert(1, 9, 4).GetPrePrepare())},
			"replica 1 signed two new views for view 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			var found []Conflict
			for _, m := range tc.msgs {
				for _, st := range Statements(m) {
					found = append(found, l.Add(st)...)
				}
			}
			switch {
			case tc.want == "" && len(found) > 0:
				t.Fatalf("a correct replica's messages conflict: %s", found[0])
			case tc.want != "" && (len(found) == 0 || !strings.Contains(found[0].String(), tc.want)):
				t.Fatalf("want a conflict containing %q, got %v", tc.want, found)
			}
		})
	}
}

// The statements nested in a view change are checked as their signers'.
func TestNestedStatements(t *testing.T) {
	vc := viewChange(3, 1, 8, 'a', &wire.PreparedCertificate{PrePrepare: cert(0, 9, 3).GetPrePrepare(),
		Prepares: []*wire.Prepare{prepare(1, 0, 9, 3).GetPrepare()}})
	sts := Statements(vc)
	if len(sts) != 1+3+1+1 {
		t.Fatalf("%d statements in a view change with a 3-checkpoint proof and a certificate of one prepare", len(sts))
	}
	l := New()
	for _, st := range sts {
		l.Add(st)
	}
	if found := l.Add(prepare(1, 0, 9, 5)); len(found) != 1 || found[0].Signer != 1 {
		t.Fatalf("a prepare conflicting with one inside a certificate: %v", found)
	}
}
