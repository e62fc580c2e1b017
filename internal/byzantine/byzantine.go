// Package byzantine rewrites a replica's outgoing messages the way a faulty
// replica could, holding only its own key. The simulator's adversaries and
// the driver's --fault share these, so tests and demos misbehave alike.
package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// CorruptSignature returns a copy of m whose signature no longer verifies;
// messages without a replica signature come back unchanged.
func CorruptSignature(m *wire.Message) *wire.Message {
	m = proto.Clone(m).(*wire.Message)
	flip := func(sig []byte) {
		if len(sig) > 0 {
			sig[0] ^= 0x80
		}
	}
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		flip(c.PrePrepare.Signature)
	case *wire.Message_Prepare:
		flip(c.Prepare.Signature)
	case *wire.Message_Commit:
		flip(c.Commit.Signature)
	case *wire.Message_Checkpoint:
		flip(c.Checkpoint.Signature)
	case *wire.Message_ViewChange:
		flip(c.ViewChange.Signature)
	case *wire.Message_NewView:
		flip(c.NewView.Signature)
	}
	return m
}

// OtherBatch is a second, validly signed pre-prepare for pp's view and
// sequence number: the same batch minus its last request. Sent to some
// backups while the others get pp, it is an equivocation.
func OtherBatch(signer crypto.Signer, cluster string, pp *wire.PrePrepare) *wire.PrePrepare {
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Requests = alt.Requests[:max(len(alt.Requests)-1, 0)]
	digests := make([]crypto.Digest, len(alt.Requests))
	for i, r := range alt.Requests {
		digests[i] = pbft.RequestDigest(cluster, r)
	}
	d := pbft.BatchDigest(cluster, digests)
	alt.Digest = d[:]
	_ = pbft.SignPrePrepare(signer, cluster, alt) // the digest is 32 bytes by construction
	return alt
}
