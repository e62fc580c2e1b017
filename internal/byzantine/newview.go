package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// badNewView replaces the last pre-prepare of a NEW-VIEW with a null request
// (or adds one), validly signed: only recomputing O from the view changes
// exposes it.
func (d *Decorator) badNewView(m *wire.Message) *wire.Message {
	nv := m.GetNewView()
	if nv == nil {
		return m
	}
	signer, cluster := d.cfg.Signer, d.cfg.Cluster
	alt := proto.Clone(nv).(*wire.NewView)
	null := pbft.BatchDigest(cluster, nil)
	if k := len(alt.PrePrepares); k > 0 {
		last := alt.PrePrepares[k-1]
		if string(last.Digest) == string(null[:]) {
			alt.PrePrepares = alt.PrePrepares[:k-1]
		} else {
			last.Digest = null[:]
			_ = pbft.SignPrePrepare(signer, cluster, last) // the digest is 32 bytes by construction
		}
	} else {
		var stable uint64
		for _, vc := range alt.ViewChanges {
			stable = max(stable, vc.GetStableSequence())
		}
		pp := &wire.PrePrepare{View: alt.View, Sequence: stable + 1, Digest: null[:], Replica: alt.Replica}
		_ = pbft.SignPrePrepare(signer, cluster, pp)
		alt.PrePrepares = append(alt.PrePrepares, pp)
	}
	_ = pbft.SignNewView(signer, cluster, alt) // never fails
	return &wire.Message{Content: &wire.Message_NewView{NewView: alt}}
}
