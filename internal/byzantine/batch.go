package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// split gives odd backups a pre-prepare for the same view and sequence
// number other than the one the rest get: a validly signed other batch (Equivocate)
// or other requests under the signed digest (DigestLie). A broadcast is
// split per backup; a pre-prepare sent again to one backup carries the lie
// that backup was told.
func (d *Decorator) split(env pbft.Envelope) []Out {
	pp := env.Msg.GetPrePrepare()
	if pp == nil || (d.cfg.Kind == DigestLie && len(pp.GetRequests()) == 0) {
		return []Out{{Envelope: env}}
	}
	alt := d.once(pp, func() *wire.Message {
		if d.cfg.Kind == Equivocate {
			return prePrepare(otherBatch(d.cfg.Signer, d.cfg.Cluster, pp))
		}
		// Only the digest check tells this batch from the signed one.
		lie := proto.Clone(pp).(*wire.PrePrepare)
		lie.Requests = lie.Requests[:len(lie.Requests)-1]
		return prePrepare(lie)
	})
	to := func(id int) Out {
		if id%2 == 1 {
			return Out{Envelope: pbft.Envelope{To: id, Msg: alt}}
		}
		return Out{Envelope: pbft.Envelope{To: id, Msg: env.Msg}}
	}
	if env.To != pbft.Broadcast {
		return []Out{to(env.To)}
	}
	var out []Out
	for id := range d.cfg.Replicas {
		if id != d.cfg.Self {
			out = append(out, to(id))
		}
	}
	return out
}

// once is rewrite's message for pp's view and sequence number, computed the
// first time: each backup is sent the same lie however often the core sends
// pp (a broadcast reaches the driver once per backup; Status resends it).
func (d *Decorator) once(pp *wire.PrePrepare, rewrite func() *wire.Message) *wire.Message {
	key := [2]uint64{pp.GetView(), pp.GetSequence()}
	if m, ok := d.rewritten[key]; ok {
		return m
	}
	m := rewrite()
	if len(d.rewritten) >= rewrittenMemory {
		clear(d.rewritten)
	}
	d.rewritten[key] = m
	return m
}

func prePrepare(pp *wire.PrePrepare) *wire.Message {
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}
}

// otherBatch is a second, validly signed pre-prepare for pp's view and
// sequence number: the same batch minus its last request. Sent to some
// backups while the others get pp, it is an equivocation.
func otherBatch(signer crypto.Signer, cluster string, pp *wire.PrePrepare) *wire.PrePrepare {
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Requests = alt.Requests[:max(len(alt.Requests)-1, 0)]
	signBatch(signer, cluster, alt)
	return alt
}

// extendBatch appends to a pre-prepare either a request the primary already
// ordered earlier (Repropose: correct replicas must skip it, by its
// timestamp) or a request it made up under a client's key with a signature
// it cannot produce (ForgeRequest: correct replicas must refuse the batch),
// and re-signs the batch with its own key.
func (d *Decorator) extendBatch(m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	return d.once(pp, func() *wire.Message {
		extra := d.extra(pp)
		if extra == nil {
			return m
		}
		alt := proto.Clone(pp).(*wire.PrePrepare)
		alt.Requests = append(alt.Requests, extra)
		signBatch(d.cfg.Signer, d.cfg.Cluster, alt)
		return prePrepare(alt)
	})
}

// extra is the request extendBatch adds to pp, if it has one: for
// Repropose a random one of those it ordered before pp.
func (d *Decorator) extra(pp *wire.PrePrepare) *wire.Request {
	if d.cfg.Kind == Repropose {
		var extra *wire.Request
		if len(d.ordered) > 0 {
			extra = d.ordered[d.cfg.Rand.IntN(len(d.ordered))]
		}
		if len(d.ordered) >= orderedMemory {
			d.ordered = d.ordered[:copy(d.ordered, d.ordered[orderedMemory/2:])]
		}
		d.ordered = append(d.ordered, pp.GetRequests()...)
		return extra
	}
	if len(pp.GetRequests()) == 0 {
		return nil
	}
	forged := proto.Clone(pp.GetRequests()[0]).(*wire.Request)
	forged.Timestamp += 1_000_000
	forged.Operation = []byte("forged")
	forged.Signature = d.cfg.Signer.Sign(pbft.RequestTranscript(d.cfg.Cluster, forged))
	return forged
}

// skipSequence renumbers the primary's pre-prepares s -> s + s/3, so every
// third sequence number is never assigned: execution stops at the first gap
// until a view change fills it with a null request.
func (d *Decorator) skipSequence(m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	alt := proto.Clone(pp).(*wire.PrePrepare)
	alt.Sequence += alt.Sequence / 3
	_ = pbft.SignPrePrepare(d.cfg.Signer, d.cfg.Cluster, alt) // the digest is the core's, 32 bytes
	return prePrepare(alt)
}

// signBatch sets pp's digest to that of its requests and signs it.
func signBatch(signer crypto.Signer, cluster string, pp *wire.PrePrepare) {
	digests := make([]crypto.Digest, len(pp.Requests))
	for i, r := range pp.Requests {
		digests[i] = pbft.RequestDigest(cluster, r)
	}
	d := pbft.BatchDigest(cluster, digests)
	pp.Digest = d[:]
	_ = pbft.SignPrePrepare(signer, cluster, pp) // the digest is 32 bytes by construction
}
