package pbft

import (
	"errors"
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Evidence proves that a replica equivocated: two messages it signed for the
// same slot (pre-prepares, prepares or commits for one view and sequence
// number, or checkpoints for one sequence number) with different digests. No
// correct replica ever signs both, and anyone with the cluster's public keys
// can check it with CheckEvidence.
type Evidence struct {
	Replica       uint32
	First, Second *wire.Message
}

// Evidence returns the equivocation proofs this replica collected, at most
// one per replica (the first), so their memory stays bounded.
func (r *Replica) Evidence() []Evidence {
	var out []Evidence
	for _, e := range r.evidence {
		if e != nil {
			out = append(out, *e)
		}
	}
	return out
}

// noteEquivocation keeps first and second as evidence against replica once
// second's signature holds; first was already verified when it was accepted.
func (r *Replica) noteEquivocation(replica uint32, first, second *wire.Message) {
	if CheckEvidence(r.cfg.ClusterID, r.cfg.Replicas, r.cfg.Verifier, Evidence{Replica: replica, First: first, Second: second}) != nil {
		return
	}
	r.stats.Equivocations++
	if r.evidence[replica] == nil {
		r.evidence[replica] = &Evidence{Replica: replica, First: first, Second: second}
	}
}

// slotClaim is what a signed message says about one slot.
type slotClaim struct {
	kind       string
	view, seq  uint64
	digest     []byte
	replica    uint32
	transcript func(d crypto.Digest) []byte
}

func claimOf(cluster string, m *wire.Message) (slotClaim, error) {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		p := c.PrePrepare
		return slotClaim{"pre-prepare", p.GetView(), p.GetSequence(), p.GetDigest(), p.GetReplica(),
			func(d crypto.Digest) []byte { return prePrepareTranscript(cluster, p, d) }}, nil
	case *wire.Message_Prepare:
		p := c.Prepare
		return slotClaim{"prepare", p.GetView(), p.GetSequence(), p.GetDigest(), p.GetReplica(),
			func(d crypto.Digest) []byte { return prepareTranscript(cluster, p, d) }}, nil
	case *wire.Message_Commit:
		p := c.Commit
		return slotClaim{"commit", p.GetView(), p.GetSequence(), p.GetDigest(), p.GetReplica(),
			func(d crypto.Digest) []byte { return commitTranscript(cluster, p, d) }}, nil
	case *wire.Message_Checkpoint:
		p := c.Checkpoint
		return slotClaim{"checkpoint", 0, p.GetSequence(), p.GetStateDigest(), p.GetReplica(),
			func(d crypto.Digest) []byte { return checkpointTranscript(cluster, p, d) }}, nil
	}
	return slotClaim{}, fmt.Errorf("%T is not a slot message", m.Content)
}

func signatureOf(m *wire.Message) []byte {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetSignature()
	case *wire.Message_Prepare:
		return c.Prepare.GetSignature()
	case *wire.Message_Commit:
		return c.Commit.GetSignature()
	case *wire.Message_Checkpoint:
		return c.Checkpoint.GetSignature()
	}
	return nil
}

// CheckEvidence verifies an equivocation proof against the cluster's keys.
func CheckEvidence(cluster string, replicas []crypto.PublicKey, v crypto.Verifier, e Evidence) error {
	if e.First == nil || e.Second == nil || int(e.Replica) >= len(replicas) {
		return errors.New("evidence: incomplete")
	}
	a, err := claimOf(cluster, e.First)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	b, err := claimOf(cluster, e.Second)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if a.kind != b.kind || a.view != b.view || a.seq != b.seq || a.replica != e.Replica || b.replica != e.Replica {
		return errors.New("evidence: the messages are not for one slot by one replica")
	}
	if string(a.digest) == string(b.digest) {
		return errors.New("evidence: the messages agree")
	}
	for _, m := range []struct {
		c   slotClaim
		msg *wire.Message
	}{{a, e.First}, {b, e.Second}} {
		d, err := digestOf(m.c.digest)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if !v.Verify(replicas[e.Replica], m.c.transcript(d), signatureOf(m.msg)) {
			return errors.New("evidence: a signature does not verify")
		}
	}
	return nil
}
