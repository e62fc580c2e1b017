package driver

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// windowTransport is a unit test's stand-in for the network: it hands
// every request the client sends to the test, and delivers the replies the
// test writes.
type windowTransport struct {
	sent chan *wire.Request
	in   chan pbft.Inbound
}

func (t *windowTransport) Send(id uint32, m *wire.Message) {
	if id == 0 { // one copy of each broadcast
		t.sent <- m.GetRequest()
	}
}
func (t *windowTransport) SendClient(string, *wire.Message) {}
func (t *windowTransport) Inbound() <-chan pbft.Inbound     { return t.in }

// TestClientBoundsItsOutstandingBytes: a client never has more than
// MaxOutstandingBytes of operations outstanding (one alone may exceed it),
// and the calls past the window start in the order they were made, so a
// replica's per-key bound never drops the client's own requests.
func TestClientBoundsItsOutstandingBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	signer, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &windowTransport{sent: make(chan *wire.Request, 64), in: make(chan pbft.Inbound)}
	const size = 100 << 10
	c, err := StartClient(ctx, ClientConfig{
		ClusterID: "window", Replicas: 4, Signer: signer, Transport: tr, Sessions: 8,
		MaxOutstandingBytes: 2*size + size/2, RetransmitTicks: 1 << 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan int, 8)
	for i := range 5 {
		op := make([]byte, size)
		op[0] = byte(i)
		go func() {
			if _, err := c.Do(ctx, op, false); err == nil {
				results <- i
			}
		}()
		time.Sleep(20 * time.Millisecond) // the calls reach the client in this order
	}
	var started []*wire.Request
	for range 2 {
		select {
		case req := <-tr.sent:
			started = append(started, req)
		case <-ctx.Done():
			t.Fatal("the first two operations were not sent")
		}
	}
	select {
	case req := <-tr.sent:
		t.Fatalf("a third operation of %d bytes was sent with 2 outstanding and a window of %d (op %d)", size, 2*size+size/2, req.GetOperation()[0])
	case <-time.After(200 * time.Millisecond):
	}
	// Two of the f+1 = 2 matching replies complete the first operation.
	reply := func(req *wire.Request) {
		for from := range 2 {
			tr.in <- pbft.Inbound{From: pbft.From{Replica: from}, Msg: &wire.Message{Content: &wire.Message_Reply{Reply: &wire.Reply{
				Session: req.GetSession(), Timestamp: req.GetTimestamp(), Replica: uint32(from), Result: []byte("ok"), ClientKey: req.GetClientKey(),
			}}}}
		}
	}
	reply(started[0])
	var got int
	select {
	case got = <-results:
	case <-ctx.Done():
		t.Fatal("the answered operation did not complete")
	}
	if got != int(started[0].GetOperation()[0]) {
		t.Fatalf("completed op %d, want %d", got, started[0].GetOperation()[0])
	}
	var next *wire.Request
	select {
	case next = <-tr.sent:
	case <-ctx.Done():
		t.Fatal("no operation started once one completed")
	}
	if got := next.GetOperation()[0]; got != 2 {
		t.Fatalf("the first call past the window to start is op %d, want op 2 (the order of the calls)", got)
	}
	select {
	case req := <-tr.sent:
		t.Fatalf("op %d sent past the window", req.GetOperation()[0])
	case <-time.After(200 * time.Millisecond):
	}
}
