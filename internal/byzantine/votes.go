package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// wrongDigest re-signs prepares and commits for a random digest: votes for
// a batch nobody proposed, which only counting matching votes defeats.
func (d *Decorator) wrongDigest(m *wire.Message) *wire.Message {
	// Drawn for every message, not only votes, so that a seed keeps giving
	// the simulator the run it always gave.
	var digest crypto.Digest
	for i := range digest {
		digest[i] = byte(d.cfg.Rand.Uint32())
	}
	switch m.Content.(type) {
	case *wire.Message_Prepare:
		m = proto.Clone(m).(*wire.Message)
		p := m.GetPrepare()
		p.Digest = digest[:]
		_ = pbft.SignPrepare(d.cfg.Signer, d.cfg.Cluster, p) // the digest is 32 bytes by construction
	case *wire.Message_Commit:
		m = proto.Clone(m).(*wire.Message)
		c := m.GetCommit()
		c.Digest = digest[:]
		_ = pbft.SignCommit(d.cfg.Signer, d.cfg.Cluster, c)
	}
	return m
}
