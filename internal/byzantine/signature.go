package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// corruptSignature returns a copy of m whose signature no longer verifies;
// messages without a replica signature come back unchanged.
func corruptSignature(m *wire.Message) *wire.Message {
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
