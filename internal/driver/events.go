package driver

import (
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
	if s := rd.Restored; s != nil {
		d.log.Info("state transfer: installed a checkpoint's snapshot from peers", "sequence", s.GetSequence(),
			"last_executed", d.r.LastExecuted(), "stable_checkpoint", d.r.StableCheckpoint())
	}
}
