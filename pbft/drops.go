package pbft

import (
	"errors"
	"fmt"
)

// Reasons a replica drops a message. Step wraps one of them in the error it
// returns, and Stats counts them, so a driver can export a metric per reason
// and log at a bounded rate.
var (
	ErrMalformed          = errors.New("malformed message")
	ErrSenderMismatch     = errors.New("sender is not the authenticated peer")
	ErrBadSignature       = errors.New("bad signature")
	ErrWrongView          = errors.New("not for the current view")
	ErrNotPrimary         = errors.New("sender or receiver is not the primary")
	ErrOutsideWindow      = errors.New("sequence number outside the watermark window")
	ErrConflict           = errors.New("conflicts with an accepted message")
	ErrDigestMismatch     = errors.New("digest does not match the batch")
	ErrStaleTimestamp     = errors.New("timestamp not newer than the client's last")
	ErrQueueFull          = errors.New("request queue full")
	ErrUnauthenticRequest = errors.New("request neither held from its client nor validly signed")
	ErrRefused            = errors.New("operation refused by the service's admission check")
	ErrReadBehind         = errors.New("read-only request while behind what this replica executed before restarting")
)

var dropReasons = []error{
	ErrMalformed, ErrSenderMismatch, ErrBadSignature, ErrWrongView, ErrNotPrimary,
	ErrOutsideWindow, ErrConflict, ErrDigestMismatch, ErrStaleTimestamp, ErrQueueFull,
	ErrUnauthenticRequest, ErrRefused, ErrReadBehind,
}

// Stats are a replica's counters. They are part of no protocol decision.
type Stats struct {
	// Dropped counts dropped messages by reason (the sentinel's text).
	Dropped map[string]uint64
	// Duplicates counts messages already held, ignored silently.
	Duplicates uint64
	// LateVotes counts prepares and commits that arrived once their slot had
	// its quorum, dropped without a signature check (see Replica.LateVote).
	LateVotes uint64
	// Late counts checkpoints for a sequence number already stable.
	Late uint64
	// ClientSignaturesChecked counts client signatures the replica verified,
	// because it did not hold the request from the client's own connection.
	ClientSignaturesChecked uint64
	// Executed counts executed batches and requests.
	ExecutedBatches, ExecutedRequests uint64
	// StateTransfers counts snapshots installed from peers.
	StateTransfers uint64
	// BatchFetches counts the FetchBatch requests sent: for a batch a
	// NEW-VIEW named by digest, or a pre-prepare whose requests this
	// replica lacked (see digestbatch.go).
	BatchFetches uint64
	// Equivocations counts proven equivocations (see Replica.Evidence).
	Equivocations uint64
	// EvictedSessions counts sessions evicted from the client table.
	EvictedSessions uint64
	// Penalised counts client keys penalised for a forged signature on
	// their own connection (see penalise).
	Penalised uint64
	// Refused counts requests the service's admission check refused.
	Refused uint64
	// RateLimited counts peers' Status and FetchState messages left
	// unanswered because the peer asked faster than its per-peer rate.
	RateLimited uint64
	// Suspicions counts the times this replica's view-change timer fired
	// and it suspected the primary; a view change followed only where f+1
	// replicas did.
	Suspicions uint64
	// SlowPrimarySuspicions counts the suspicions raised by the primary's
	// measured performance (see perfMonitor) rather than by the timer.
	SlowPrimarySuspicions uint64
	// TimeoutForwards counts held requests a backup forwarded to the
	// primary when its timer fired, before suspecting it (see forwardHeld).
	TimeoutForwards uint64
}

func newStats() Stats {
	s := Stats{Dropped: make(map[string]uint64, len(dropReasons))}
	for _, r := range dropReasons {
		s.Dropped[r.Error()] = 0
	}
	return s
}

// drop counts a dropped message and returns the error Step reports.
func (r *Replica) drop(reason error, format string, args ...any) error {
	r.stats.Dropped[reason.Error()]++
	return fmt.Errorf("%w: "+format, append([]any{reason}, args...)...)
}
