package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// FuzzSessionStep hands a session with one request outstanding replies that
// arrive from arbitrary replicas: well-formed ones for the request with one
// of a few results (so quorums form), and arbitrary decoded Reply messages.
// The session never panics, and accepts a result only once f+1 distinct
// replicas (2f+1 for every operation of a cluster with fast reads, but
// f+1 for a refusal) sent exactly that result for its request, each
// counted once.
//
// Input: [flags] then ops, each [from][kind][...]: kind even is a reply for
// the request with result kind/2%4 and view [view]; kind odd is [len][len
// bytes of an encoded Reply].
func FuzzSessionStep(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 0, 1, 2, 0, 1})                            // two matching: accepted at f+1
	f.Add([]byte{3, 0, 0, 1, 1, 0, 1, 2, 0, 1, 3, 2, 9})                   // read-only: 2f+1 needed
	f.Add([]byte{2, 0, 0, 1, 1, 0, 1, 2, 0, 1, 3, 2, 9})                   // a write of a fast-read cluster: 2f+1 needed
	f.Add([]byte{0, 0, 0, 1, 0, 0, 1, 1, 2, 1, 2, 4, 1})                   // a duplicate, then a different result
	f.Add([]byte{0, 7, 0, 1, 1, 1, 4, 0x28, 1, 0x30, 9, 2, 0, 1, 0, 1, 1}) // unknown replica, a raw reply
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		const n = 4
		fast := data[0]&2 == 2
		s, err := NewSession(Config{ClusterID: "fuzz", Replicas: n, Signer: scheme.NewSigner("fuzz-client"), Session: 2, FirstTimestamp: 100,
			FastReads: fast})
		if err != nil {
			t.Fatal(err)
		}
		req, err := s.Submit([]byte("op"), data[0]&1 == 1)
		if err != nil {
			t.Fatal(err)
		}
		if req.GetReadOnly() != (data[0]&1 == 1 && fast) {
			t.Fatalf("read-only %v with fast reads %v", req.GetReadOnly(), fast)
		}
		// What the session was given that counts: the first reply of each
		// replica for the request.
		first := make(map[uint32]*wire.Reply)
		data = data[1:]
		for len(data) >= 2 && s.Outstanding() != nil {
			from, kind := uint32(data[0]), data[1]
			data = data[2:]
			var rep *wire.Reply
			if kind%2 == 0 {
				var view uint64
				if len(data) > 0 {
					view, data = uint64(data[0]), data[1:]
				}
				rep = &wire.Reply{View: view, ClientKey: req.GetClientKey(), Session: req.GetSession(), Timestamp: req.GetTimestamp(),
					Replica: from, Result: []byte{kind / 2 % 4}, ReadOnly: req.GetReadOnly()}
			} else {
				if len(data) == 0 {
					return
				}
				size := min(int(data[0]), len(data)-1)
				rep = &wire.Reply{}
				if proto.Unmarshal(data[1:1+size], rep) != nil {
					rep = nil
				}
				data = data[1+size:]
			}
			if rep != nil && from < n && rep.GetReplica() == from && rep.GetTimestamp() == req.GetTimestamp() &&
				rep.GetSession() == req.GetSession() && bytes.Equal(rep.GetClientKey(), req.GetClientKey()) &&
				rep.GetReadOnly() == req.GetReadOnly() && first[from] == nil {
				first[from] = rep
			}
			res, ok := s.Step(from, rep)
			if !ok {
				continue
			}
			matching := 0
			for _, r := range first {
				if bytes.Equal(r.GetResult(), res.Result) && r.GetRejected() == res.Rejected {
					matching++
				}
			}
			need := 2 // f+1
			if fast && !res.Rejected {
				need = 3 // 2f+1: reads and writes alike
			}
			if matching < need {
				t.Fatalf("accepted %x backed by %d replicas, %d needed", res.Result, matching, need)
			}
			if res.Timestamp != req.GetTimestamp() || s.Outstanding() != nil {
				t.Fatal("accepted a result, yet the request is still outstanding or the timestamp differs")
			}
		}
	})
}
