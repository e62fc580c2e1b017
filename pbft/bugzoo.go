package pbft

// Bug names a deliberately broken variant of the protocol. The bug zoo (go
// test -tags bugzoo) runs the test suite against each and fails if one
// survives: a suite that cannot catch these cannot be trusted to catch
// their cousins. Without the bugzoo build tag no bug can be switched on
// and every check below compiles to nothing.
type Bug int32

// The variants: each breaks one protocol rule (docs/design.md, section 4).
const (
	NoBug Bug = iota
	// BugPrepareQuorumShort: prepared with 2f-1 matching prepares, not 2f.
	BugPrepareQuorumShort
	// BugCommitQuorumShort: committed-local with 2f matching commits, not 2f+1.
	BugCommitQuorumShort
	// BugSkipDigestCheck: a backup accepts a pre-prepare whose digest does
	// not match its requests.
	BugSkipDigestCheck
	// BugNewViewNotRecomputed: a backup takes NEW-VIEW's pre-prepares as
	// sent instead of recomputing them from the view changes.
	BugNewViewNotRecomputed
	// BugLowestViewCertificate: NEW-VIEW re-issues, for a sequence number,
	// the prepared certificate of the lowest view instead of the highest.
	BugLowestViewCertificate
	// BugReplyCacheNotSnapshotted: the reply cache is left out of snapshots
	// and of the state digest.
	BugReplyCacheNotSnapshotted
	// BugAcceptOutsideWindow: pre-prepares, prepares and commits above the
	// high watermark are accepted.
	BugAcceptOutsideWindow
	// BugStableQuorumShort: a checkpoint is stable with f+1 matching
	// checkpoints, not 2f+1.
	BugStableQuorumShort
	// BugViewChangeCertShort: a prepared certificate inside a VIEW-CHANGE is
	// accepted with 2f-1 prepares.
	BugViewChangeCertShort
	// BugCheckpointCertShort: a checkpoint certificate (in a view change, a
	// state transfer, a restart) is accepted with f+1 signers.
	BugCheckpointCertShort
	// BugRestartForgetsViewChange: a replica that crashed while changing
	// views comes back active in the new view without its NEW-VIEW.
	BugRestartForgetsViewChange
	// BugSendBeforePersist: the driver sends a Ready's messages before it
	// writes its records.
	BugSendBeforePersist
	// BugAdoptedLowNotPersisted: a low watermark adopted from a NEW-VIEW, or
	// a state transfer landing on it, is not made durable.
	BugAdoptedLowNotPersisted
	// BugNewViewNotPersisted: a new primary does not persist its NEW-VIEW
	// and the pre-prepares it re-issues there.
	BugNewViewNotPersisted
	// BugExecuteWithoutTimestampCheck: a request executes even when its
	// session already executed that timestamp.
	BugExecuteWithoutTimestampCheck
	// BugLoneSuspicionChangesView: a replica whose timer fired sends its
	// VIEW-CHANGE at once, without waiting for f others to suspect.
	BugLoneSuspicionChangesView
	// BugReadBelowFence: a restarted replica answers reads before it
	// executed as far as it had committed.
	BugReadBelowFence
	// BugLoneEscalation: a replica waiting for a NEW-VIEW whose timer fired
	// moves on to the next view at once, without f others suspecting.
	BugLoneEscalation
	// BugMonitorBlamesOldView: the slow-primary monitor counts a request's
	// wait from its arrival even when that was in an earlier view.
	BugMonitorBlamesOldView
	// BugMonitorCountsBacklog: the monitor counts a request's wait from its
	// arrival, not from the last pre-prepare that served its key.
	BugMonitorCountsBacklog
	// BugHeldBelowFloorKept: requests held for sessions that never executed
	// stay held when their key's floor rises above them.
	BugHeldBelowFloorKept
	// BugSuspectWithoutForwarding: a backup whose timer fires suspects the
	// primary without first forwarding the requests it holds.
	BugSuspectWithoutForwarding
	// BugDemandShareInFlight: a key's share of what the least demanding
	// other key asks for holds beside batches in flight too, so two floods
	// fill the pipeline.
	BugDemandShareInFlight
	numBugs
)

var bugNames = [...]string{
	NoBug:                           "none",
	BugPrepareQuorumShort:           "prepare-quorum-short",
	BugCommitQuorumShort:            "commit-quorum-short",
	BugSkipDigestCheck:              "skip-digest-check",
	BugNewViewNotRecomputed:         "new-view-not-recomputed",
	BugLowestViewCertificate:        "lowest-view-certificate",
	BugReplyCacheNotSnapshotted:     "reply-cache-not-snapshotted",
	BugAcceptOutsideWindow:          "accept-outside-window",
	BugStableQuorumShort:            "stable-quorum-short",
	BugViewChangeCertShort:          "view-change-cert-short",
	BugCheckpointCertShort:          "checkpoint-cert-short",
	BugRestartForgetsViewChange:     "restart-forgets-view-change",
	BugSendBeforePersist:            "send-before-persist",
	BugAdoptedLowNotPersisted:       "adopted-low-not-persisted",
	BugNewViewNotPersisted:          "new-view-not-persisted",
	BugExecuteWithoutTimestampCheck: "execute-without-timestamp-check",
	BugLoneSuspicionChangesView:     "lone-suspicion-changes-view",
	BugReadBelowFence:               "read-below-fence",
	BugLoneEscalation:               "lone-escalation",
	BugMonitorBlamesOldView:         "monitor-blames-old-view",
	BugMonitorCountsBacklog:         "monitor-counts-backlog",
	BugHeldBelowFloorKept:           "held-below-floor-kept",
	BugSuspectWithoutForwarding:     "suspect-without-forwarding",
	BugDemandShareInFlight:          "demand-share-in-flight",
}

func (b Bug) String() string {
	if b >= 0 && b < numBugs {
		return bugNames[b]
	}
	return "unknown"
}

// Bugs lists every variant of the zoo.
func Bugs() []Bug {
	out := make([]Bug, 0, numBugs-1)
	for b := NoBug + 1; b < numBugs; b++ {
		out = append(out, b)
	}
	return out
}

// BugOn reports whether variant b is switched on, for the bug zoo's
// variants outside this package (the driver's); always false without the
// bugzoo build tag.
func BugOn(b Bug) bool { return bug(b) }

// ParseBug finds a variant by name.
func ParseBug(name string) (Bug, bool) {
	for b := NoBug; b < numBugs; b++ {
		if bugNames[b] == name {
			return b, true
		}
	}
	return NoBug, false
}
