package pbft

import (
	"errors"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// forged returns m with its signature's first byte flipped.
func forged(m *wire.Message) *wire.Message {
	if p := m.GetPrepare(); p != nil {
		p.Signature[0] ^= 0x80
	}
	if c := m.GetCommit(); c != nil {
		c.Signature[0] ^= 0x80
	}
	return m
}

// A vote that arrives once its slot has its quorum is dropped before its
// signature is checked (nothing needs it), and so is its check in the
// driver (LateVote); a vote still needed is checked, so a forged one is
// refused.
func TestLateVotesAreDroppedUnchecked(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	pp := c.prePrepareFor(c.request([]byte("x")))
	d, seq := pp.GetDigest(), pp.GetSequence()
	b := c.reps[1]
	must(t, c.step(0, 1, ppMsg(pp)))
	// Backup 1 holds its own prepare; it needs one more from a backup.
	if err := c.step(2, 1, forged(c.signedPrepare(2, 0, seq, d))); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forged prepare the slot still needs: %v, want ErrBadSignature", err)
	}
	must(t, c.step(3, 1, c.signedPrepare(3, 0, seq, d)))
	if !b.slots[seq].prepared {
		t.Fatal("backup 1 did not prepare on its own prepare and replica 3's")
	}
	late := forged(c.signedPrepare(2, 0, seq, d))
	if !b.LateVote(late) {
		t.Fatal("LateVote: a prepare for a prepared slot is not reported late")
	}
	if err := c.step(2, 1, late); err != nil {
		t.Fatalf("a late prepare: %v, want it dropped unchecked", err)
	}
	// Commits: its own and two more make it committed; a fourth is late.
	if b.LateVote(c.signedCommit(2, 0, seq, d)) {
		t.Fatal("LateVote: a commit the slot still needs is reported late")
	}
	if err := c.step(2, 1, forged(c.signedCommit(2, 0, seq, d))); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forged commit the slot still needs: %v, want ErrBadSignature", err)
	}
	must(t, c.step(0, 1, c.signedCommit(0, 0, seq, d)))
	must(t, c.step(3, 1, c.signedCommit(3, 0, seq, d)))
	if b.LastExecuted() != seq {
		t.Fatalf("backup 1 did not execute %d on three commits (last executed %d)", seq, b.LastExecuted())
	}
	lateCommit := forged(c.signedCommit(2, 0, seq, d))
	if !b.LateVote(lateCommit) {
		t.Fatal("LateVote: a commit for a committed slot is not reported late")
	}
	if err := c.step(2, 1, lateCommit); err != nil {
		t.Fatalf("a late commit: %v, want it dropped unchecked", err)
	}
	if got := b.Stats().LateVotes; got != 2 {
		t.Fatalf("LateVotes %d, want 2", got)
	}
}
