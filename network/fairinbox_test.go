package network

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

func inboxMsg(from pbft.From, seq uint64) pbft.Inbound {
	return pbft.Inbound{From: from, Msg: &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{LastExecuted: seq}}}}
}

// A client that fills its queue waits behind its own messages only: another
// client's message and a replica's are served within one round of the
// sources, not behind the flood, and the flooding pusher blocks until its
// queue has room.
func TestFairInboxServesEachSourceInTurn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFairInbox(ctx)
	flood := pbft.FromClient([]byte("flood"))
	for i := range clientSourceQueue {
		if !f.push(inboxMsg(flood, uint64(i))) {
			t.Fatal("push failed before the inbox closed")
		}
	}
	blocked := make(chan bool)
	go func() { blocked <- f.push(inboxMsg(flood, clientSourceQueue)) }()
	select {
	case <-blocked:
		t.Fatal("a source past its queue's bound was not held back")
	case <-time.After(50 * time.Millisecond):
	}
	f.push(inboxMsg(pbft.FromClient([]byte("legitimate")), 0))
	f.push(inboxMsg(pbft.FromReplica(2), 0))
	seen := map[string]int{}
	for i := range 3 {
		m, ok := f.pop()
		if !ok {
			t.Fatalf("pop %d: nothing queued", i)
		}
		key, _ := sourceOf(m.From)
		seen[key]++
	}
	if seen["clegitimate"] != 1 || seen["r2"] != 1 {
		t.Fatalf("the first three messages served came from %v; want one of each source, the flood's other %d behind", seen, clientSourceQueue-1)
	}
	select {
	case ok := <-blocked:
		if !ok {
			t.Fatal("the held pusher gave up although the inbox is open")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the flood's pusher stayed blocked after its queue had room")
	}
}

// Past the inbox's total only a source with nothing waiting gets in, so a
// newcomer is served however full the others keep it (and a source held at
// the total gets in once its own queue is served); and queues left
// empty are forgotten, so client keys that come and go leave nothing.
func TestFairInboxBoundsTheTotalAndForgetsIdleSources(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFairInbox(ctx)
	for s := range inboxTotal / clientSourceQueue {
		from := pbft.FromClient([]byte{byte(s), byte(s >> 8)})
		for i := range clientSourceQueue {
			f.push(inboxMsg(from, uint64(i)))
		}
	}
	one := pbft.FromClient([]byte("one waiting"))
	if !f.push(inboxMsg(one, 0)) {
		t.Fatal("a source with nothing waiting was refused at the total")
	}
	second := make(chan bool, 1)
	go func() { second <- f.push(inboxMsg(one, 1)) }()
	select {
	case <-second:
		t.Fatalf("a second message got in with %d queued, past the total %d", inboxTotal+1, inboxTotal)
	case <-time.After(50 * time.Millisecond):
	}
	// Its first message served, the source has nothing waiting: the held
	// message gets in.
	for {
		m, ok := f.pop()
		if !ok {
			t.Fatal("the source's first message was never served")
		}
		if m.From == one {
			break
		}
	}
	if ok := <-second; !ok {
		t.Fatal("the held pusher gave up although the inbox is open")
	}
	for {
		if _, ok := f.pop(); !ok {
			break
		}
	}
	if len(f.queues) != 0 || len(f.ring) != 0 || f.total != 0 {
		t.Fatalf("after everything was served: %d queues, ring %d, total %d; want none", len(f.queues), len(f.ring), f.total)
	}
	// A pusher held back gives up when the inbox closes.
	from := pbft.FromClient([]byte("held"))
	for i := range clientSourceQueue {
		f.push(inboxMsg(from, uint64(i)))
	}
	done := make(chan bool)
	go func() { done <- f.push(inboxMsg(from, 0)) }()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a push past the bound succeeded after the inbox closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held pusher did not return when the inbox closed")
	}
}
