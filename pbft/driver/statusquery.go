package driver

import "github.com/bulwark-bft/bulwark/pbft/wire"

// answerStatusQuery answers a Status sent by a client (an operator running
// `bulwark status`) with this replica's progress and state digest. It is not
// part of the protocol, so it never reaches the core.
func (d *Driver) answerStatusQuery(m Inbound) bool {
	if m.From.Replica >= 0 || m.Msg.GetStatus() == nil {
		return false
	}
	digest := d.r.StateDigest()
	d.cfg.Transport.SendClient(m.From.Client, &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{
		View: d.r.View(), LastExecuted: d.r.LastExecuted(), StableSequence: d.r.StableCheckpoint(),
		Replica: d.r.ID(), ViewChanging: d.r.ViewChanging(), StateDigest: digest[:],
	}}})
	return true
}
