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

// logEvents writes the operator's log lines for what a Ready reports: a view
// change started and a view entered (INFO), a state transfer completed
// (INFO). An operator reading one replica's log can then tell a view
// change or a catch-up from a stall.
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
	if s := rd.Restored; s != nil {
		d.log.Info("state transfer: installed a checkpoint's snapshot from peers", "sequence", s.GetSequence(),
			"last_executed", d.r.LastExecuted(), "stable_checkpoint", d.r.StableCheckpoint())
	}
}
