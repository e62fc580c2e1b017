package driver_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// recorder is a Transport that keeps what it is given to send.
type recorder struct {
	mu   sync.Mutex
	sent []pbft.Envelope
}

func (r *recorder) Send(id uint32, m *wire.Message) { r.record(pbft.Envelope{To: int(id), Msg: m}) }
func (r *recorder) SendClient(key string, m *wire.Message) {
	r.record(pbft.Envelope{To: pbft.ToClient, Client: key, Msg: m})
}
func (r *recorder) Inbound() <-chan pbft.Inbound { return nil }

func (r *recorder) record(env pbft.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, env)
}

func (r *recorder) take() []pbft.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent := r.sent
	r.sent = nil
	return sent
}

func faulty(k byzantine.Kind, delay time.Duration) (pbft.Transport, *recorder) {
	rec := &recorder{}
	signer := cryptotest.NewScheme(1).NewSigner("replica-0")
	return driver.WithFault(rec, byzantine.Config{Kind: k, Self: 0, Replicas: 4, Signer: signer, Cluster: "test"}, delay), rec
}

func prePrepare() *wire.Message {
	reqs := []*wire.Request{{ClientKey: []byte("client"), Session: 1, Timestamp: 1}, {ClientKey: []byte("client"), Session: 2, Timestamp: 1}}
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: &wire.PrePrepare{Sequence: 1, Digest: make([]byte, 32), Requests: reqs}}}
}

func TestWithFaultLeavesAnHonestReplicasTransportAlone(t *testing.T) {
	rec := &recorder{}
	if got := driver.WithFault(rec, byzantine.Config{Kind: byzantine.Honest}, time.Second); got != pbft.Transport(rec) {
		t.Fatalf("an honest replica's transport is wrapped: %T", got)
	}
}

// The transport sends what the decorator decides to whom it decides, to a
// replica or a client; a silent replica sends nothing either way.
func TestFaultyTransportSendsTheRewrittenMessages(t *testing.T) {
	tr, rec := faulty(byzantine.Equivocate, time.Second)
	pp := prePrepare()
	for id := uint32(1); id <= 3; id++ {
		tr.Send(id, pp)
	}
	sent := rec.take()
	if len(sent) != 3 || sent[1].Msg != pp || sent[0].Msg == pp || sent[0].Msg != sent[2].Msg {
		t.Fatalf("equivocating to backups 1, 2, 3: %v; want the same other batch to 1 and 3", sent)
	}

	tr, rec = faulty(byzantine.WrongResult, time.Second)
	reply := &wire.Message{Content: &wire.Message_Reply{Reply: &wire.Reply{Result: []byte("ok")}}}
	tr.SendClient("key", reply)
	if sent := rec.take(); len(sent) != 1 || sent[0].To != pbft.ToClient || sent[0].Client != "key" || bytes.Equal(sent[0].Msg.GetReply().GetResult(), []byte("ok")) {
		t.Fatalf("a wrong-result reply: %v", sent)
	}

	tr, rec = faulty(byzantine.Silent, time.Second)
	tr.Send(1, pp)
	tr.SendClient("key", reply)
	if sent := rec.take(); len(sent) != 0 {
		t.Fatalf("a silent replica sent %v", sent)
	}
}

// A slow primary's pre-prepares leave after the delay, everything else at
// once.
func TestFaultyTransportHoldsASlowPrimarysPrePrepares(t *testing.T) {
	const delay = 50 * time.Millisecond
	tr, rec := faulty(byzantine.Slow, delay)
	prepare := &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{Sequence: 1}}}
	start := time.Now()
	tr.Send(1, prePrepare())
	tr.Send(2, prepare)
	if sent := rec.take(); len(sent) != 1 || sent[0].Msg != prepare || sent[0].To != 2 {
		t.Fatalf("sent at once: %v; want only the prepare", sent)
	}
	for time.Since(start) < 5*time.Second {
		if sent := rec.take(); len(sent) > 0 {
			if len(sent) != 1 || sent[0].Msg.GetPrePrepare() == nil || sent[0].To != 1 || time.Since(start) < delay {
				t.Fatalf("after %v: %v; want the pre-prepare to 1 after %v", time.Since(start), sent, delay)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the held pre-prepare was never sent")
}
