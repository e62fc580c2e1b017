package pbft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// largeRequest is a request whose batch the primary sends by digest.
func (c *testCluster) largeRequest() *wire.Request {
	return c.request(kv.EncodePut([]byte("k"), bytes.Repeat([]byte("v"), digestBatchBytes)))
}

// deliverCountingFetches delivers everything pending, holding back what
// hold selects, and counts the FetchBatch messages sent.
func (c *testCluster) deliverCountingFetches(hold func(s sent) bool) (fetches int) {
	c.deliver(func(s sent) bool {
		if s.msg.GetFetchBatch() != nil {
			fetches++
			return true
		}
		return hold != nil && hold(s)
	})
	return fetches
}

// A batch of large requests goes out as their digests, and backups that
// hold the requests from their clients fill them in: every replica
// executes it and nobody fetches anything.
func TestPrePrepareNamesLargeRequestsByDigest(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.largeRequest()
	for i := 1; i < 4; i++ {
		must(t, c.fromClient(i, req))
	}
	must(t, c.fromClient(0, req))
	pps := c.take(&wire.Message_PrePrepare{})
	if len(pps) != 3 {
		t.Fatalf("%d pre-prepares sent", len(pps))
	}
	for _, s := range pps {
		if pp := s.msg.GetPrePrepare(); len(pp.GetRequests()) != 0 || len(pp.GetRequestDigests()) != 1 {
			t.Fatalf("pre-prepare sent with %d requests and %d digests, want the digest alone", len(pp.GetRequests()), len(pp.GetRequestDigests()))
		}
	}
	c.pending = append(c.pending, pps...)
	if n := c.deliverCountingFetches(nil); n != 0 {
		t.Fatalf("%d batch fetches though every backup held the request", n)
	}
	for i, r := range c.reps {
		if r.LastExecuted() != 1 {
			t.Fatalf("replica %d executed up to %d", i, r.LastExecuted())
		}
	}
	// Small batches still travel whole.
	small := c.request(kv.EncodePut([]byte("k"), []byte("v")))
	must(t, c.fromClient(0, small))
	for _, s := range c.take(&wire.Message_PrePrepare{}) {
		if len(s.msg.GetPrePrepare().GetRequests()) != 1 {
			t.Fatal("a small batch was sent by digest")
		}
	}
}

// A backup that lacks a request a pre-prepare names waits for it: if its
// client's copy arrives it needs nothing more; if not, at the next tick it
// fetches the batch, and accepts the pre-prepare once it has it.
func TestPrePrepareByDigestWaitsThenFetches(t *testing.T) {
	for _, arrives := range []bool{true, false} {
		c := newTestCluster(t, 4, nil)
		req := c.largeRequest()
		for i := 1; i < 3; i++ { // backup 3 has not got it from the client
			must(t, c.fromClient(i, req))
		}
		must(t, c.fromClient(0, req))
		if n := c.deliverCountingFetches(nil); n != 0 {
			t.Fatalf("%d fetches before a tick", n)
		}
		if c.reps[3].LastExecuted() != 0 || c.reps[0].LastExecuted() != 1 {
			t.Fatalf("executed: primary %d, backup 3 %d", c.reps[0].LastExecuted(), c.reps[3].LastExecuted())
		}
		if arrives { // accepted at once, not at the next tick
			must(t, c.fromClient(3, req))
			c.deliver(nil)
			if c.reps[3].LastExecuted() != 1 {
				t.Fatalf("backup 3 executed up to %d once its client's copy arrived", c.reps[3].LastExecuted())
			}
		}
		c.reps[3].Tick()
		c.collect(3)
		fetches := c.take(&wire.Message_FetchBatch{})
		if arrives {
			if len(fetches) != 0 || c.reps[3].LastExecuted() != 1 {
				t.Fatalf("with the client's copy: %d fetches, executed up to %d", len(fetches), c.reps[3].LastExecuted())
			}
			continue
		}
		if len(fetches) != 1 || fetches[0].to != 0 {
			t.Fatalf("fetches %v, want one to the primary", fetches)
		}
		fb := fetches[0].msg.GetFetchBatch()
		batch := &wire.Batch{Sequence: fb.GetSequence(), Digest: fb.GetDigest(), Requests: []*wire.Request{req}, Replica: 0}
		must(t, c.step(0, 3, &wire.Message{Content: &wire.Message_Batch{Batch: batch}}))
		c.deliver(nil)
		if c.reps[3].LastExecuted() != 1 {
			t.Fatalf("backup 3 executed up to %d after fetching the batch", c.reps[3].LastExecuted())
		}
	}
}

// Digests that do not hash to the signed batch digest, or that come with
// requests, or of the wrong size, are refused.
func TestPrePrepareDigestsMustMatch(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	req := c.largeRequest()
	must(t, c.fromClient(1, req))
	must(t, c.fromClient(0, req))
	pp := c.take(&wire.Message_PrePrepare{})[0].msg.GetPrePrepare()
	for _, tc := range []struct {
		name   string
		change func(*wire.PrePrepare)
		want   error
	}{
		{"another digest", func(p *wire.PrePrepare) { p.RequestDigests[0][0] ^= 1 }, ErrDigestMismatch},
		{"with requests too", func(p *wire.PrePrepare) { p.Requests = []*wire.Request{req} }, ErrMalformed},
		{"a short digest", func(p *wire.PrePrepare) { p.RequestDigests[0] = p.RequestDigests[0][:31] }, ErrMalformed},
	} {
		bad := &wire.PrePrepare{View: pp.GetView(), Sequence: pp.GetSequence(), Digest: pp.GetDigest(), Replica: pp.GetReplica(),
			Signature: pp.GetSignature(), RequestDigests: [][]byte{bytes.Clone(pp.GetRequestDigests()[0])}}
		tc.change(bad)
		if err := c.step(0, 1, ppMsg(bad)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := c.step(0, 1, ppMsg(pp)); err != nil {
		t.Fatalf("the primary's own pre-prepare after the bad ones: %v", err)
	}
}
