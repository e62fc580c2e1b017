package pbft

import "fmt"

// quorum holds the PBFT quorum sizes for n = 3f+1 replicas.
type quorum struct {
	n, f int
}

func newQuorum(n int) (quorum, error) {
	if n < 4 || (n-1)%3 != 0 {
		return quorum{}, fmt.Errorf("replicas: %d is not 3f+1 for some f >= 1 (4, 7, 10, ...)", n)
	}
	return quorum{n: n, f: (n - 1) / 3}, nil
}

// prepared is the number of matching prepares from distinct backups that,
// with the pre-prepare, make a batch prepared.
func (q quorum) prepared() int {
	if bug(BugPrepareQuorumShort) {
		return 2*q.f - 1
	}
	return 2 * q.f
}

// committed is the number of matching commits from distinct replicas (the
// replica's own included) that make a prepared batch committed-local.
func (q quorum) committed() int {
	if bug(BugCommitQuorumShort) {
		return 2 * q.f
	}
	return 2*q.f + 1
}

// stable is the number of matching checkpoints that make a checkpoint stable.
func (q quorum) stable() int {
	if bug(BugStableQuorumShort) {
		return q.f + 1
	}
	return 2*q.f + 1
}

// primary is the primary of view v.
func (q quorum) primary(v uint64) uint32 { return uint32(v % uint64(q.n)) }
