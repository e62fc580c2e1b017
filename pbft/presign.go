package pbft

import (
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// SignatureOf is the replica signature the core checks when it steps m: the
// signer's public key, the canonical bytes and the signature. A driver
// verifies the signatures of many incoming messages in parallel with it
// (crypto.VerifyBatch) before stepping them one by one. ok is false for
// messages without one (client requests, Status, state transfer) or too
// malformed to have one; the core then decides alone.
func SignatureOf(cluster string, replicas []crypto.PublicKey, m *wire.Message) (item crypto.Item, ok bool) {
	var signer uint32
	var msg, sig []byte
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		d, err := digestOf(c.PrePrepare.GetDigest())
		if err != nil {
			return item, false
		}
		signer, msg, sig = c.PrePrepare.GetReplica(), prePrepareTranscript(cluster, c.PrePrepare, d), c.PrePrepare.GetSignature()
	case *wire.Message_Prepare:
		d, err := digestOf(c.Prepare.GetDigest())
		if err != nil {
			return item, false
		}
		signer, msg, sig = c.Prepare.GetReplica(), prepareTranscript(cluster, c.Prepare, d), c.Prepare.GetSignature()
	case *wire.Message_Commit:
		d, err := digestOf(c.Commit.GetDigest())
		if err != nil {
			return item, false
		}
		signer, msg, sig = c.Commit.GetReplica(), commitTranscript(cluster, c.Commit, d), c.Commit.GetSignature()
	case *wire.Message_Checkpoint:
		d, err := digestOf(c.Checkpoint.GetStateDigest())
		if err != nil {
			return item, false
		}
		signer, msg, sig = c.Checkpoint.GetReplica(), checkpointTranscript(cluster, c.Checkpoint, d), c.Checkpoint.GetSignature()
	case *wire.Message_ViewChange:
		signer, msg, sig = c.ViewChange.GetReplica(), viewChangeTranscript(cluster, c.ViewChange), c.ViewChange.GetSignature()
	case *wire.Message_NewView:
		signer, msg, sig = c.NewView.GetReplica(), newViewTranscript(cluster, c.NewView), c.NewView.GetSignature()
	default:
		return item, false
	}
	if int(signer) >= len(replicas) {
		return item, false
	}
	return crypto.Item{PublicKey: replicas[signer], Message: msg, Signature: sig}, true
}
