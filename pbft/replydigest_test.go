package pbft

import (
	"bytes"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// On execution one replica, chosen per request, sends a result longer than
// a digest in full and the others its digest; a replica answering a resent
// request from its cache sends it in full.
func TestExecutedRepliesCarryTheResultFromOne(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	value := bytes.Repeat([]byte("v"), 100)
	for _, op := range [][]byte{kv.EncodePut([]byte("k"), value), kv.EncodeGet([]byte("k"))} {
		must(t, c.fromClient(0, c.request(op)))
		c.deliver(nil)
	}
	get := c.nextTS - 1
	var result []byte // the get's result, from a full reply
	for _, rep := range c.replies {
		if rep.GetTimestamp() == get && len(rep.GetResultDigest()) == 0 {
			result = rep.GetResult()
		}
	}
	if !bytes.Contains(result, value) {
		t.Fatalf("no full reply carries the value: %q", result)
	}
	want := crypto.Hash(result)
	full, digests := 0, []uint32{}
	for _, rep := range c.replies {
		if rep.GetTimestamp() != get {
			continue
		}
		switch {
		case bytes.Equal(rep.GetResult(), result) && len(rep.GetResultDigest()) == 0:
			full++
			// The client waits for the one it can name, and resends at
			// once when that one answers otherwise (pbft/client).
			if named := FullReplier(rep.GetSession(), get, 4); rep.GetReplica() != named {
				t.Fatalf("replica %d sent the result in full; FullReplier names %d", rep.GetReplica(), named)
			}
		case len(rep.GetResult()) == 0 && bytes.Equal(rep.GetResultDigest(), want[:]):
			digests = append(digests, rep.GetReplica())
		default:
			t.Fatalf("replica %d replied %q / %x", rep.GetReplica(), rep.GetResult(), rep.GetResultDigest())
		}
	}
	if full != 1 || len(digests) != 3 {
		t.Fatalf("%d full replies and %d digests, want 1 and 3", full, len(digests))
	}
	// The client resends the get to a replica that sent the digest.
	c.replies = nil
	resend := &wire.Request{ClientKey: c.client.PublicKey(), Session: 0, Timestamp: get, Operation: kv.EncodeGet([]byte("k"))}
	SignRequest(c.client, "test", resend)
	must(t, c.fromClient(int(digests[0]), resend))
	if len(c.replies) != 1 || !bytes.Equal(c.replies[0].GetResult(), result) {
		t.Fatalf("a resent request answered from the cache with %v, want the result in full", c.replies)
	}
}
