package byzantine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Each test rewrites what honest cores really sent and checks the result
// the way a correct replica would: by stepping it into a fresh core.

func isPrePrepare(m *wire.Message) bool { return m.GetPrePrepare() != nil }

// only is the one message of outs, sent to to.
func only(t *testing.T, outs []Out, to int) *wire.Message {
	t.Helper()
	if len(outs) != 1 || outs[0].To != to || outs[0].Delay {
		t.Fatalf("rewritten into %+v, want one message to %d, not delayed", outs, to)
	}
	return outs[0].Msg
}

func TestSilentSendsNothing(t *testing.T) {
	c := newTestCluster(t)
	for _, s := range c.run(t) {
		if outs := c.decorator(Silent, s.from).Rewrite(s.Envelope); len(outs) != 0 {
			t.Fatalf("a silent replica sent %v", outs)
		}
	}
}

func TestHonestTwinAndMutatePassMessagesUnchanged(t *testing.T) {
	c := newTestCluster(t)
	for _, k := range []Kind{Honest, Twin, Mutate} {
		for _, s := range c.run(t) {
			if outs := c.decorator(k, s.from).Rewrite(s.Envelope); len(outs) != 1 || outs[0].Envelope != s.Envelope || outs[0].Delay {
				t.Fatalf("%v: %v became %+v", k, s.Envelope, outs)
			}
		}
	}
}

func TestBadSignatureFailsVerification(t *testing.T) {
	c := newTestCluster(t)
	checked := 0
	for _, s := range c.run(t) {
		if s.To == pbft.ToClient {
			continue
		}
		bad := only(t, c.decorator(BadSignature, s.from).Rewrite(s.Envelope), s.To)
		// A fresh core for each, so that neither message is a duplicate.
		if _, err := newTestCluster(t).step(t, 1+s.from%3, s.from, s.Msg); errors.Is(err, pbft.ErrBadSignature) {
			t.Fatalf("the honest %T already fails: %v", s.Msg.Content, err)
		}
		if _, err := newTestCluster(t).step(t, 1+s.from%3, s.from, bad); !errors.Is(err, pbft.ErrBadSignature) {
			t.Fatalf("%T with a corrupted signature: %v, want %v", bad.Content, err, pbft.ErrBadSignature)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("only %d signed messages checked", checked)
	}
}

func TestEquivocateGivesOddBackupsTheSameOtherValidBatch(t *testing.T) {
	c := newTestCluster(t)
	pp := find(t, c.run(t), 0, batchOf(2))
	d := c.decorator(Equivocate, 0)
	outs := d.Rewrite(pp)
	if got := len(outs); got != 3 {
		t.Fatalf("a broadcast became %d messages, want one per backup", got)
	}
	orig := pp.Msg.GetPrePrepare()
	alt := outs[0].Msg
	for i, out := range outs {
		to := i + 1
		if out.To != to || out.Delay {
			t.Fatalf("message %d: %+v", i, out)
		}
		if to%2 == 0 {
			if out.Msg != pp.Msg {
				t.Fatalf("even backup %d got %v, want the core's pre-prepare", to, out.Msg)
			}
			continue
		}
		other := out.Msg.GetPrePrepare()
		if other.GetView() != orig.GetView() || other.GetSequence() != orig.GetSequence() || bytes.Equal(other.GetDigest(), orig.GetDigest()) {
			t.Fatalf("odd backup %d got view %d sequence %d digest %x; want view %d sequence %d and a digest other than %x",
				to, other.GetView(), other.GetSequence(), other.GetDigest(), orig.GetView(), orig.GetSequence(), orig.GetDigest())
		}
		if !proto.Equal(out.Msg, alt) {
			t.Fatalf("odd backups 1 and %d got different batches", to)
		}
		if _, err := newTestCluster(t).step(t, to, 0, out.Msg); err != nil {
			t.Fatalf("odd backup %d refuses the other batch: %v", to, err)
		}
	}
	// Sent again, to one backup at a time (the driver's Send; a Status
	// resend), each backup is told what it was told before.
	for to := 1; to <= 3; to++ {
		want := pp.Msg
		if to%2 == 1 {
			want = alt
		}
		if got := only(t, d.Rewrite(pbft.Envelope{To: to, Msg: pp.Msg}), to); !proto.Equal(got, want) {
			t.Fatalf("backup %d sent the pre-prepare again got another one", to)
		}
	}
}

func TestDigestLieSendsOddBackupsRequestsTheDigestDoesNotName(t *testing.T) {
	c := newTestCluster(t)
	pp := find(t, c.run(t), 0, batchOf(2))
	outs := c.decorator(DigestLie, 0).Rewrite(pp)
	if len(outs) != 3 {
		t.Fatalf("a broadcast became %d messages, want one per backup", len(outs))
	}
	for i, out := range outs {
		to := i + 1
		lie := out.Msg.GetPrePrepare()
		_, err := newTestCluster(t).step(t, to, 0, out.Msg)
		switch {
		case to%2 == 0 && (out.Msg != pp.Msg || err != nil):
			t.Fatalf("even backup %d got %v (%v), want the core's pre-prepare", to, out.Msg, err)
		case to%2 == 1 && !errors.Is(err, pbft.ErrDigestMismatch):
			t.Fatalf("odd backup %d: %v, want %v", to, err, pbft.ErrDigestMismatch)
		case to%2 == 1 && (!bytes.Equal(lie.GetSignature(), pp.Msg.GetPrePrepare().GetSignature()) || len(lie.GetRequests()) >= len(pp.Msg.GetPrePrepare().GetRequests())):
			t.Fatalf("odd backup %d got a different signature or all the requests", to)
		}
	}
}

func TestWrongResultChangesOnlyReplies(t *testing.T) {
	c := newTestCluster(t)
	replies := 0
	for _, s := range c.run(t) {
		got := only(t, c.decorator(WrongResult, s.from).Rewrite(s.Envelope), s.To)
		if s.Msg.GetReply() == nil {
			if got != s.Msg {
				t.Fatalf("a %T was changed", s.Msg.Content)
			}
			continue
		}
		replies++
		if bytes.Equal(got.GetReply().GetResult(), s.Msg.GetReply().GetResult()) {
			t.Fatalf("a reply kept its result %q", got.GetReply().GetResult())
		}
		same := proto.Clone(got).(*wire.Message)
		same.GetReply().Result = s.Msg.GetReply().GetResult()
		if !proto.Equal(same, s.Msg) {
			t.Fatalf("a reply changed beyond its result: %v, was %v", got, s.Msg)
		}
	}
	if replies == 0 {
		t.Fatal("no reply checked")
	}
}

func TestSlowDelaysPrePreparesOnly(t *testing.T) {
	c := newTestCluster(t)
	delayed := 0
	for _, s := range c.run(t) {
		outs := c.decorator(Slow, s.from).Rewrite(s.Envelope)
		if len(outs) != 1 || outs[0].Envelope != s.Envelope || outs[0].Delay != isPrePrepare(s.Msg) {
			t.Fatalf("%T became %+v; want it unchanged, delayed only if a pre-prepare", s.Msg.Content, outs)
		}
		if outs[0].Delay {
			delayed++
		}
	}
	if delayed == 0 {
		t.Fatal("no pre-prepare checked")
	}
}

func TestWrongDigestVotesValidlyForAnotherDigest(t *testing.T) {
	c := newTestCluster(t)
	votes := 0
	for _, s := range c.run(t) {
		got := only(t, c.decorator(WrongDigest, s.from).Rewrite(s.Envelope), s.To)
		var before, after []byte
		switch {
		case s.Msg.GetPrepare() != nil:
			before, after = s.Msg.GetPrepare().GetDigest(), got.GetPrepare().GetDigest()
		case s.Msg.GetCommit() != nil:
			before, after = s.Msg.GetCommit().GetDigest(), got.GetCommit().GetDigest()
		default:
			if got != s.Msg {
				t.Fatalf("a %T was changed", s.Msg.Content)
			}
			continue
		}
		votes++
		if bytes.Equal(before, after) {
			t.Fatalf("a %T kept its digest", got.Content)
		}
		if _, err := newTestCluster(t).step(t, (s.from+1)%4, s.from, got); errors.Is(err, pbft.ErrBadSignature) {
			t.Fatalf("a %T for another digest is not validly signed: %v", got.Content, err)
		}
	}
	if votes == 0 {
		t.Fatal("no vote checked")
	}
}

func TestReproposeAddsAnOrderedRequestTheSameWayEachTime(t *testing.T) {
	c := newTestCluster(t)
	all := c.run(t)
	first, second := find(t, all, 0, isPrePrepare), find(t, all, 0, batchOf(2))
	d := c.decorator(Repropose, 0)
	if got := only(t, d.Rewrite(first), pbft.Broadcast); got != first.Msg {
		t.Fatal("the first batch changed: nothing was ordered before it")
	}
	got := only(t, d.Rewrite(second), pbft.Broadcast)
	reqs := got.GetPrePrepare().GetRequests()
	if n := len(second.Msg.GetPrePrepare().GetRequests()); len(reqs) != n+1 || !proto.Equal(reqs[n], first.Msg.GetPrePrepare().GetRequests()[0]) {
		t.Fatalf("the second batch has %d requests, want the first batch's request added to its %d", len(reqs), n)
	}
	if _, err := newTestCluster(t).step(t, 1, 0, got); err != nil {
		t.Fatalf("a backup refuses the extended batch: %v", err)
	}
	for to := 1; to <= 3; to++ {
		if again := only(t, d.Rewrite(pbft.Envelope{To: to, Msg: second.Msg}), to); !proto.Equal(again, got) {
			t.Fatalf("sent again to backup %d, the batch differs", to)
		}
	}
}

func TestForgeRequestAddsARequestItCannotSign(t *testing.T) {
	c := newTestCluster(t)
	pp := find(t, c.run(t), 0, batchOf(2))
	got := only(t, c.decorator(ForgeRequest, 0).Rewrite(pp), pbft.Broadcast)
	if n := len(got.GetPrePrepare().GetRequests()); n != len(pp.Msg.GetPrePrepare().GetRequests())+1 {
		t.Fatalf("the batch has %d requests, want one more than the core's", n)
	}
	if _, err := newTestCluster(t).step(t, 1, 0, pp.Msg); err != nil {
		t.Fatalf("the core's batch is refused: %v", err)
	}
	if _, err := newTestCluster(t).step(t, 1, 0, got); !errors.Is(err, pbft.ErrUnauthenticRequest) {
		t.Fatalf("a backup given the forged request: %v, want %v", err, pbft.ErrUnauthenticRequest)
	}
}

func TestSkipSequenceLeavesEveryThirdNumberUnassigned(t *testing.T) {
	c := newTestCluster(t)
	pp := find(t, c.run(t), 0, isPrePrepare)
	d := c.decorator(SkipSequence, 0)
	var assigned []uint64
	for seq := uint64(1); seq <= 6; seq++ {
		m := proto.Clone(pp.Msg).(*wire.Message)
		m.GetPrePrepare().Sequence = seq
		if err := pbft.SignPrePrepare(c.signers[0], cluster, m.GetPrePrepare()); err != nil {
			t.Fatal(err)
		}
		got := only(t, d.Rewrite(pbft.Envelope{To: pbft.Broadcast, Msg: m}), pbft.Broadcast)
		if _, err := newTestCluster(t).step(t, 1, 0, got); err != nil {
			t.Fatalf("a backup refuses the renumbered pre-prepare %d: %v", seq, err)
		}
		assigned = append(assigned, got.GetPrePrepare().GetSequence())
	}
	if want := []uint64{1, 2, 4, 5, 6, 8}; !slices.Equal(assigned, want) {
		t.Fatalf("sequence numbers 1 to 6 became %v, want %v", assigned, want)
	}
}

func TestBadNewViewSwapsItsLastPrePrepareForANullRequest(t *testing.T) {
	c := newTestCluster(t)
	pp := find(t, c.run(t), 0, isPrePrepare).Msg.GetPrePrepare()
	null := pbft.BatchDigest(cluster, nil)
	nullPP := &wire.PrePrepare{View: 1, Sequence: 2, Digest: null[:], Replica: 1}
	real := &wire.PrePrepare{View: 1, Sequence: 1, Digest: pp.GetDigest(), Replica: 1}
	for _, tc := range []struct {
		name string
		in   []*wire.PrePrepare
		want []string // the NEW-VIEW's pre-prepares: sequence number and null or not
	}{
		{"a batch becomes a null request", []*wire.PrePrepare{real}, []string{"1 null"}},
		{"a null request is dropped", []*wire.PrePrepare{real, nullPP}, []string{"1 batch"}},
		{"none gains one", nil, []string{"1 null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nv := &wire.NewView{View: 1, Replica: 1, ViewChanges: []*wire.ViewChange{{StableSequence: 0}}}
			for _, p := range tc.in {
				p = proto.Clone(p).(*wire.PrePrepare)
				if err := pbft.SignPrePrepare(c.signers[1], cluster, p); err != nil {
					t.Fatal(err)
				}
				nv.PrePrepares = append(nv.PrePrepares, p)
			}
			if err := pbft.SignNewView(c.signers[1], cluster, nv); err != nil {
				t.Fatal(err)
			}
			m := &wire.Message{Content: &wire.Message_NewView{NewView: nv}}
			got := only(t, c.decorator(BadNewView, 1).Rewrite(pbft.Envelope{To: pbft.Broadcast, Msg: m}), pbft.Broadcast).GetNewView()
			var pps []string
			for _, p := range got.GetPrePrepares() {
				what := "batch"
				if bytes.Equal(p.GetDigest(), null[:]) {
					what = "null"
				}
				pps = append(pps, fmt.Sprintf("%d %s", p.GetSequence(), what))
				resigned := proto.Clone(p).(*wire.PrePrepare)
				_ = pbft.SignPrePrepare(c.signers[1], cluster, resigned)
				if !bytes.Equal(resigned.GetSignature(), p.GetSignature()) {
					t.Fatalf("pre-prepare %d is not validly signed", p.GetSequence())
				}
			}
			if !slices.Equal(pps, tc.want) {
				t.Fatalf("pre-prepares %q, want %q", pps, tc.want)
			}
			resigned := proto.Clone(got).(*wire.NewView)
			_ = pbft.SignNewView(c.signers[1], cluster, resigned)
			if !bytes.Equal(resigned.GetSignature(), got.GetSignature()) {
				t.Fatal("the NEW-VIEW is not validly signed")
			}
		})
	}
}

func TestBadStateFlipsAByteOrWithholdsTheLastChunk(t *testing.T) {
	c := newTestCluster(t)
	d := c.decorator(BadState, 1)
	data := []byte("0123456789")
	var withheld, flipped int
	for range 50 {
		for _, chunk := range []uint32{0, 1} {
			m := &wire.Message{Content: &wire.Message_StateChunk{StateChunk: &wire.StateChunk{Chunk: chunk, Chunks: 2, Data: slices.Clone(data)}}}
			outs := d.Rewrite(pbft.Envelope{To: 2, Msg: m})
			if len(outs) == 0 {
				if chunk == 0 {
					t.Fatal("a chunk other than the last was withheld")
				}
				withheld++
				continue
			}
			got := only(t, outs, 2).GetStateChunk().GetData()
			diff := 0
			for i := range data {
				if got[i] != data[i] {
					diff++
				}
			}
			if diff != 1 {
				t.Fatalf("chunk %d differs in %d bytes, want 1", chunk, diff)
			}
			flipped++
		}
	}
	if withheld == 0 || flipped <= 50 {
		t.Fatalf("%d last chunks withheld, %d chunks flipped: want both", withheld, flipped)
	}
	for _, s := range c.run(t) {
		if got := only(t, d.Rewrite(s.Envelope), s.To); got != s.Msg {
			t.Fatalf("a %T was changed", s.Msg.Content)
		}
	}
}

func TestReplayResendsOldMessagesButNoRequests(t *testing.T) {
	c := newTestCluster(t)
	all := c.run(t)
	d := c.decorator(Replay, 1)
	var old []*wire.Message
	for _, s := range all {
		if s.from != 1 {
			d.Observe(s.Msg)
			old = append(old, s.Msg)
		}
	}
	request := c.request()
	d.Observe(request)
	replayed := 0
	for range 20 {
		for _, s := range all {
			if s.from != 1 {
				continue
			}
			outs := d.Rewrite(s.Envelope)
			if len(outs) == 0 || outs[0].Envelope != s.Envelope {
				t.Fatalf("%v was not sent: %+v", s.Envelope, outs)
			}
			for _, out := range outs[1:] {
				replayed++
				if out.Msg == request || out.To < 0 || out.To >= 4 || out.Delay {
					t.Fatalf("replayed %+v: a request, or not to one replica", out)
				}
				if !slices.Contains(old, out.Msg) && !slices.ContainsFunc(all, func(s sent) bool { return s.Msg == out.Msg }) {
					t.Fatalf("replayed %v, which nobody sent", out.Msg)
				}
			}
		}
	}
	if replayed == 0 {
		t.Fatal("nothing was replayed")
	}
}
