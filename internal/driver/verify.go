package driver

import (
	"bytes"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// maxVerifyBatch bounds how many queued messages the driver takes at once to
// verify their signatures in parallel.
const maxVerifyBatch = 64

// checked is a signature the driver verified ahead of the core.
type checked struct {
	pub, msg []byte
	ok       bool
}

// preverifier is the Verifier the core sees: it answers from the signatures
// the driver verified in parallel for the batch being stepped, and verifies
// anything else itself; the core's own batches of checks (a batch's client
// signatures at the primary) go to crypto.VerifyBatch. Only the driver's
// goroutine uses it.
type preverifier struct {
	inner crypto.Verifier
	// done holds the batch's checks by signature; several messages may
	// carry one signature (a client forging the same one on many requests),
	// and each is answered from its own check, so none is verified twice.
	done                  map[string][]checked
	hits, misses, batched uint64
}

func (v *preverifier) Verify(pub crypto.PublicKey, msg, sig []byte) bool {
	for _, c := range v.done[string(sig)] {
		if bytes.Equal(c.pub, pub) && bytes.Equal(c.msg, msg) {
			v.hits++
			return c.ok
		}
	}
	v.misses++
	return v.inner.Verify(pub, msg, sig)
}

// VerifyBatch checks the items with the inner verifier, as one batch where
// it can (crypto.VerifyBatch).
func (v *preverifier) VerifyBatch(items []crypto.Item) []bool {
	v.batched += uint64(len(items))
	return crypto.VerifyBatch(v.inner, items)
}

// prepare verifies the replica signatures of a batch of inbound messages
// across cores, so that stepping them costs no signature checks. Votes the
// core will drop unchecked, late for their quorum, are skipped. (Client
// signatures the core checks itself, a batch's worth at a time.)
func (v *preverifier) prepare(cluster string, replicas []crypto.PublicKey, batch []pbft.Inbound, late func(*wire.Message) bool) {
	clear(v.done)
	items := make([]crypto.Item, 0, len(batch))
	for _, m := range batch {
		if item, ok := pbft.SignatureOf(cluster, replicas, m.Msg); ok {
			if late != nil && late(m.Msg) {
				continue // the core drops it unchecked (pbft.Replica.LateVote)
			}
			items = append(items, item)
		}
	}
	for i, ok := range crypto.VerifyBatch(v.inner, items) {
		it := items[i]
		v.done[string(it.Signature)] = append(v.done[string(it.Signature)], checked{pub: it.PublicKey, msg: it.Message, ok: ok})
	}
}

// drain takes first and whatever else is already queued, up to the batch size.
func drain(first pbft.Inbound, in <-chan pbft.Inbound) []pbft.Inbound {
	batch := []pbft.Inbound{first}
	for len(batch) < maxVerifyBatch {
		select {
		case m, ok := <-in:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}
