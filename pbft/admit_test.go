package pbft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// refusing is kv with an admission check that refuses any operation
// starting with "x".
type refusing struct{ *kv.Store }

func (refusing) Admit(_ []byte, op []byte) error {
	if bytes.HasPrefix(op, []byte("x")) {
		return errors.New("x-operations are not allowed")
	}
	return nil
}

var _ statemachine.Admission = refusing{}

// An operation the service's admission check refuses is answered with the
// refusal by every replica and never ordered; a pre-prepare that holds one
// (a faulty primary's) is refused by the backups.
func TestAdmissionCheckRefusesBeforeOrdering(t *testing.T) {
	c := newTestCluster(t, 4, func(cfg *Config) { cfg.Service = refusing{kv.New()} })
	req := c.request([]byte("x-please"))
	for i := range c.reps {
		must(t, c.fromClient(i, req))
	}
	if pps := c.take(&wire.Message_PrePrepare{}); len(pps) != 0 {
		t.Fatal("the primary ordered a refused operation")
	}
	if len(c.replies) != 4 {
		t.Fatalf("%d replies, want a refusal from each replica", len(c.replies))
	}
	for _, rep := range c.replies {
		if !rep.GetRejected() || !bytes.Contains(rep.GetResult(), []byte("not allowed")) {
			t.Fatalf("reply %v, want the refusal", rep)
		}
	}
	pp := c.prePrepareAt(1, req)
	if err := c.step(0, 1, ppMsg(pp)); !errors.Is(err, ErrRefused) {
		t.Fatalf("a pre-prepare holding a refused operation: %v, want ErrRefused", err)
	}
	if c.reps[1].Stats().ExecutedRequests != 0 || c.reps[0].Stats().Refused != 1 {
		t.Fatalf("executed %d, refused %d", c.reps[1].Stats().ExecutedRequests, c.reps[0].Stats().Refused)
	}
}
