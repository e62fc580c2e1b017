package driver

import (
	"encoding/hex"

	"github.com/bulwark-bft/bulwark/pbft"
)

// viewLog remembers the last view state logged, so that each change of view
// is logged once.
type viewLog struct {
	seen     bool
	view     uint64
	changing bool
}

// fetchLog is the state transfer last logged as started.
type fetchLog struct {
	seq  uint64
	peer uint32
}

// logEvents writes the operator's log lines for what a Ready reports: a
// view change started and a view entered, a state transfer started (or
// moved to another peer) and completed (INFO), and a checkpoint whose 2f+1
// digest is not this replica's (WARN). An operator reading one replica's
// log can then tell a view change or a catch-up from a stall.
func (d *Driver) logEvents(rd pbft.Ready) {
	if v := rd.View; v != nil && (!d.views.seen || v.View != d.views.view || v.Changing != d.views.changing) {
		first := !d.views.seen
		d.views = viewLog{seen: true, view: v.View, changing: v.Changing}
		switch {
		case v.Changing:
			d.log.Info("view change: suspecting the primary, VIEW-CHANGE sent", "view", v.View,
				"primary", v.View%uint64(len(d.cfg.Replica.Replicas)), "last_executed", d.r.LastExecuted())
		case !first:
			d.log.Info("view change: entered view", "view", v.View,
				"primary", v.View%uint64(len(d.cfg.Replica.Replicas)), "last_executed", d.r.LastExecuted())
		}
	}
	if n, div := d.r.LastDivergence(); n > d.divergences && div != nil {
		d.divergences = n
		d.log.Warn("checkpoint: this replica's state digest differs from the one 2f+1 replicas signed; it will fetch their state, but a service that diverges once (another service or version, or one that is not deterministic) will again",
			"sequence", div.Sequence, "own_digest", hex.EncodeToString(div.Own[:8]), "quorum_digest", hex.EncodeToString(div.Quorum[:8]), "divergences", n)
	}
	if seq, peer, ok := d.r.FetchingState(); ok && (seq != d.fetching.seq || peer != d.fetching.peer) {
		d.fetching = fetchLog{seq: seq, peer: peer}
		d.log.Info("state transfer: fetching a checkpoint's state", "sequence", seq, "peer", peer, "last_executed", d.r.LastExecuted())
	}
	if s := rd.Restored; s != nil {
		d.fetching = fetchLog{}
		d.log.Info("state transfer: installed a checkpoint's state", "sequence", s.GetSequence(), "peer", s.GetReplica(),
			"bytes", len(s.GetState()), "last_executed", d.r.LastExecuted(), "stable_checkpoint", d.r.StableCheckpoint())
	}
}
