package pbft

import "fmt"

// CheckInvariants reports the first of the replica's internal invariants
// that does not hold. The simulator calls it after every event on every
// correct replica; it is not needed in production.
func (r *Replica) CheckInvariants() error {
	// The log is bounded by the window: nothing above the high watermark is
	// ever accepted, so a faulty primary cannot make a replica hold an
	// unbounded log or exhaust the sequence numbers.
	for seq := range r.slots {
		if seq > r.low+r.cfg.WindowSize {
			return fmt.Errorf("slot %d above the high watermark %d", seq, r.low+r.cfg.WindowSize)
		}
	}
	// A primary's next sequence number is above everything it executed: it
	// would otherwise re-assign an executed one (and the proposal loop's
	// in-flight count would wrap).
	if r.isPrimary() && r.active && r.nextSeq < r.lastExec {
		return fmt.Errorf("primary's last assigned sequence %d is below its last executed %d", r.nextSeq, r.lastExec)
	}
	return nil
}
