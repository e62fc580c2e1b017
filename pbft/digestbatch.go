package pbft

import (
	"maps"
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Pre-prepares that name their requests by digest. A client sends each
// request to every replica, so a backup holds a batch's requests before the
// primary's pre-prepare arrives, nearly always; sending them again in the
// pre-prepare doubled the bytes a large request costs the primary's links.
// For a batch of digestBatchBytes or more the primary sends the request
// digests instead (PrePrepare.request_digests), having persisted the
// pre-prepare whole. A backup fills the requests in from those it holds
// (resolveRequests) and checks the pre-prepare as if it had come whole. One
// that lacks some waits for them until the next tick, then fetches the batch
// by digest (FetchBatch) from the primary and then the others, each of which
// keeps the requests of what it accepted. The signatures cover the batch
// digest, which the request digests must hash to, so the two forms are the
// same pre-prepare: evidence, certificates and a restart treat them alike.

// digestBatchBytes is the batch size from which a primary sends digests.
// Below it a batch is a few frames' worth, and its bytes cost less than the
// round trip a backup that lacks a request would pay.
const digestBatchBytes = 8 << 10

// wireForm is pp as the primary sends it: with its requests' digests
// instead of them when they add up to digestBatchBytes or more.
func wireForm(pp *wire.PrePrepare, digests []crypto.Digest) *wire.PrePrepare {
	if batchBytes(pp.GetRequests()) < digestBatchBytes {
		return pp
	}
	ds := make([][]byte, len(digests))
	for i := range digests {
		ds[i] = digests[i][:]
	}
	return &wire.PrePrepare{View: pp.GetView(), Sequence: pp.GetSequence(), Digest: pp.GetDigest(),
		Replica: pp.GetReplica(), Signature: pp.GetSignature(), RequestDigests: ds}
}

// resolveRequests fills in the requests a pre-prepare names by digest from
// those this replica holds: nil if it lacks one, an error if the digests
// are malformed or do not hash to the batch digest d.
func (r *Replica) resolveRequests(pp *wire.PrePrepare, d crypto.Digest) (*wire.PrePrepare, error) {
	named := pp.GetRequestDigests()
	if len(pp.GetRequests()) > 0 {
		return nil, r.drop(ErrMalformed, "pre-prepare with both requests and request digests")
	}
	if len(named) > r.cfg.MaxBatchSize {
		return nil, r.drop(ErrMalformed, "batch of %d request digests exceeds %d", len(named), r.cfg.MaxBatchSize)
	}
	digests := make([]crypto.Digest, len(named))
	for i, b := range named {
		if len(b) != crypto.DigestSize {
			return nil, r.drop(ErrMalformed, "request digest %d has %d bytes", i, len(b))
		}
		digests[i] = crypto.Digest(b)
	}
	if BatchDigest(r.cfg.ClusterID, digests) != d && !bug(BugSkipDigestCheck) {
		return nil, r.drop(ErrDigestMismatch, "request digests at sequence %d", pp.GetSequence())
	}
	reqs := make([]*wire.Request, len(digests))
	for i, dg := range digests {
		k, ok := r.heldDigests[dg]
		cs := r.clients[k]
		if !ok || cs == nil || cs.pending == nil || cs.pendingDigest != dg {
			return nil, nil
		}
		reqs[i] = cs.pending
	}
	return withRequests(pp, reqs), nil
}

// resolveWanted accepts every pre-prepare of this view waiting for requests
// it named by digest that this replica now holds all of.
func (r *Replica) resolveWanted() {
	for _, seq := range slices.Sorted(maps.Keys(r.wants)) { // deterministic: the simulator replays seeds
		w := r.wants[seq]
		if w.normal == nil || len(w.normal.GetRequestDigests()) == 0 {
			continue
		}
		full, err := r.resolveRequests(w.normal, w.digest)
		if err != nil || full == nil {
			continue
		}
		delete(r.wants, seq)
		_ = r.checkNormalPrePrepare(full, w.digest)
	}
}
