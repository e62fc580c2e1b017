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
	return nil
}
