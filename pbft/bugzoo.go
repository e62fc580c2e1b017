package pbft

// Bug names a deliberately broken variant of the protocol. The bug zoo (go
// test -tags bugzoo) runs the test suite against each and fails if one
// survives: a suite that cannot catch these cannot be trusted to catch
// their cousins. Without the bugzoo build tag no bug can be switched on
// and every check below compiles to nothing.
type Bug int32

// The variants: each breaks one rule of PBFT.md.
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
	numBugs
)

var bugNames = [...]string{
	NoBug:                       "none",
	BugPrepareQuorumShort:       "prepare-quorum-short",
	BugCommitQuorumShort:        "commit-quorum-short",
	BugSkipDigestCheck:          "skip-digest-check",
	BugNewViewNotRecomputed:     "new-view-not-recomputed",
	BugLowestViewCertificate:    "lowest-view-certificate",
	BugReplyCacheNotSnapshotted: "reply-cache-not-snapshotted",
	BugAcceptOutsideWindow:      "accept-outside-window",
	BugStableQuorumShort:        "stable-quorum-short",
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

// ParseBug finds a variant by name.
func ParseBug(name string) (Bug, bool) {
	for b := NoBug; b < numBugs; b++ {
		if bugNames[b] == name {
			return b, true
		}
	}
	return NoBug, false
}
