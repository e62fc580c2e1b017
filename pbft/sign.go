package pbft

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Transcript tags: one per signed message type, so a signature over one type
// can never be replayed as another.
const (
	tagRequest    = "request"
	tagBatch      = "batch"
	tagPrePrepare = "pre-prepare"
	tagPrepare    = "prepare"
	tagCommit     = "commit"
	tagCheckpoint = "checkpoint"
	tagReply      = "reply"
	tagState      = "state"
	tagViewChange = "view-change"
	tagNewView    = "new-view"
	tagSuspicion  = "suspicion"
)

// RequestTranscript is the canonical byte string a client signs; its SHA-256
// is the request digest. The operation enters through its own digest so the
// transcript stays small.
func RequestTranscript(cluster string, r *wire.Request) []byte {
	ro := uint32(0)
	if r.GetReadOnly() {
		ro = 1
	}
	return crypto.NewTranscript(tagRequest, cluster).
		Bytes(r.GetClientKey()).
		Uint64(r.GetSession()).
		Uint64(r.GetTimestamp()).
		Uint32(ro).
		Digest(crypto.Hash(r.GetOperation())).
		Sum()
}

// RequestDigest identifies a request: SHA-256 of its transcript.
func RequestDigest(cluster string, r *wire.Request) crypto.Digest {
	return crypto.Hash(RequestTranscript(cluster, r))
}

// SignRequest fills in the request's signature.
func SignRequest(s crypto.Signer, cluster string, r *wire.Request) {
	r.Signature = s.Sign(RequestTranscript(cluster, r))
}

// BatchDigest is the digest a pre-prepare names: the ordered request digests.
func BatchDigest(cluster string, digests []crypto.Digest) crypto.Digest {
	t := crypto.NewTranscript(tagBatch, cluster).Uint64(uint64(len(digests)))
	for _, d := range digests {
		t.Digest(d)
	}
	return crypto.Hash(t.Sum())
}

func agreementTranscript(tag, cluster string, view, seq uint64, d crypto.Digest, replica uint32) []byte {
	return crypto.NewTranscript(tag, cluster).Uint64(view).Uint64(seq).Digest(d).Uint32(replica).Sum()
}

func prePrepareTranscript(cluster string, m *wire.PrePrepare, d crypto.Digest) []byte {
	return agreementTranscript(tagPrePrepare, cluster, m.GetView(), m.GetSequence(), d, m.GetReplica())
}

func prepareTranscript(cluster string, m *wire.Prepare, d crypto.Digest) []byte {
	return agreementTranscript(tagPrepare, cluster, m.GetView(), m.GetSequence(), d, m.GetReplica())
}

func commitTranscript(cluster string, m *wire.Commit, d crypto.Digest) []byte {
	return agreementTranscript(tagCommit, cluster, m.GetView(), m.GetSequence(), d, m.GetReplica())
}

func checkpointTranscript(cluster string, m *wire.Checkpoint, d crypto.Digest) []byte {
	return crypto.NewTranscript(tagCheckpoint, cluster).Uint64(m.GetSequence()).Digest(d).Uint32(m.GetReplica()).Sum()
}

// ReplyTranscript is what a replica signs when replies are signed, and what a
// client checks when it wants a transferable reply certificate.
func ReplyTranscript(cluster string, m *wire.Reply) []byte {
	ro := uint32(0) // flags: 1 read-only, 2 rejected by the admission check
	if m.GetReadOnly() {
		ro |= 1
	}
	if m.GetRejected() {
		ro |= 2
	}
	return crypto.NewTranscript(tagReply, cluster).
		Uint64(m.GetView()).
		Bytes(m.GetClientKey()).
		Uint64(m.GetSession()).
		Uint64(m.GetTimestamp()).
		Uint32(m.GetReplica()).
		Uint32(ro).
		Bytes(m.GetResult()).
		Sum()
}

// digestOf converts a wire digest, rejecting any other length.
func digestOf(b []byte) (crypto.Digest, error) {
	var d crypto.Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("%w: digest is %d bytes, want %d", ErrMalformed, len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// SignPrePrepare, SignPrepare, SignCommit and SignCheckpoint fill in a
// message's signature over its transcript. The core signs its own messages;
// these are for tests and simulated adversaries that forge with their own key.
func SignPrePrepare(s crypto.Signer, cluster string, m *wire.PrePrepare) error {
	d, err := digestOf(m.GetDigest())
	if err == nil {
		m.Signature = s.Sign(prePrepareTranscript(cluster, m, d))
	}
	return err
}

// SignPrepare signs a prepare; see SignPrePrepare.
func SignPrepare(s crypto.Signer, cluster string, m *wire.Prepare) error {
	d, err := digestOf(m.GetDigest())
	if err == nil {
		m.Signature = s.Sign(prepareTranscript(cluster, m, d))
	}
	return err
}

// SignCommit signs a commit; see SignPrePrepare.
func SignCommit(s crypto.Signer, cluster string, m *wire.Commit) error {
	d, err := digestOf(m.GetDigest())
	if err == nil {
		m.Signature = s.Sign(commitTranscript(cluster, m, d))
	}
	return err
}

// SignCheckpoint signs a checkpoint; see SignPrePrepare.
func SignCheckpoint(s crypto.Signer, cluster string, m *wire.Checkpoint) error {
	d, err := digestOf(m.GetStateDigest())
	if err == nil {
		m.Signature = s.Sign(checkpointTranscript(cluster, m, d))
	}
	return err
}

// viewChangeTranscript covers what a VIEW-CHANGE claims: the view, the stable
// checkpoint and its digest, and for each prepared certificate its view,
// sequence number and digest. The certificates' own signatures bind the rest.
func viewChangeTranscript(cluster string, vc *wire.ViewChange) []byte {
	t := crypto.NewTranscript(tagViewChange, cluster).
		Uint64(vc.GetNewView()).Uint64(vc.GetStableSequence()).Uint32(vc.GetReplica())
	if proof := vc.GetCheckpointProof(); len(proof) > 0 {
		t.Bytes(proof[0].GetStateDigest())
	} else {
		t.Bytes(nil)
	}
	t.Uint64(uint64(len(vc.GetPrepared())))
	for _, pc := range vc.GetPrepared() {
		pp := pc.GetPrePrepare()
		t.Uint64(pp.GetView()).Uint64(pp.GetSequence()).Bytes(pp.GetDigest())
	}
	return t.Sum()
}

// newViewTranscript covers the NEW-VIEW's view, the view changes it rests on
// (by their transcripts' digests) and the pre-prepares it re-issues.
func newViewTranscript(cluster string, nv *wire.NewView) []byte {
	t := crypto.NewTranscript(tagNewView, cluster).Uint64(nv.GetView()).Uint32(nv.GetReplica()).
		Uint64(uint64(len(nv.GetViewChanges())))
	for _, vc := range nv.GetViewChanges() {
		t.Digest(crypto.Hash(viewChangeTranscript(cluster, vc)))
	}
	t.Uint64(uint64(len(nv.GetPrePrepares())))
	for _, pp := range nv.GetPrePrepares() {
		t.Uint64(pp.GetSequence()).Bytes(pp.GetDigest())
	}
	return t.Sum()
}

// SignNewView signs a NEW-VIEW; see SignPrePrepare.
func SignNewView(s crypto.Signer, cluster string, m *wire.NewView) error {
	m.Signature = s.Sign(newViewTranscript(cluster, m))
	return nil
}

// suspicionTranscript is what a replica signs when it suspects the primary
// of a view.
func suspicionTranscript(cluster string, view uint64, replica uint32) []byte {
	return crypto.NewTranscript(tagSuspicion, cluster).Uint64(view).Uint32(replica).Sum()
}
