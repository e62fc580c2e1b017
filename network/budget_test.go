package network

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	peerA peer.ID = "a"
	peerB peer.ID = "b"
	peerC peer.ID = "c"
)

// mustReserve reserves n bytes for p, failing the test if that waits.
func mustReserve(t *testing.T, b *frameBudget, p peer.ID, n int64) {
	t.Helper()
	waited, err := b.reserve(context.Background(), p, n, time.Second)
	if err != nil || waited {
		t.Fatalf("reserve %d for %s: waited %v, %v", n, p, waited, err)
	}
}

// mustRefuse checks that n bytes for p cannot be had within a short wait.
func mustRefuse(t *testing.T, b *frameBudget, p peer.ID, n int64, why string) {
	t.Helper()
	if _, err := b.reserve(context.Background(), p, n, 50*time.Millisecond); !errors.Is(err, errBudget) {
		t.Fatalf("reserve %d for %s beyond %s: %v, want errBudget", n, p, why, err)
	}
}

func TestFrameBudgetBoundsEachPeerAndAll(t *testing.T) {
	b := newFrameBudget(100, 60)
	mustReserve(t, b, peerA, 60)
	mustRefuse(t, b, peerA, 1, "its share") // 61 of 100 would fit the total
	mustReserve(t, b, peerB, 40)
	mustRefuse(t, b, peerC, 1, "the total") // C holds nothing
	if u := b.snapshot(); u.used != 100 || u.peers != 2 || u.waits != 2 {
		t.Fatalf("snapshot %+v, want 100 bytes used by 2 peers after 2 waits", u)
	}
	b.release(peerA, 60)
	mustReserve(t, b, peerC, 60)
	b.release(peerB, 40)
	b.release(peerC, 60)
	// Nothing of a peer that holds nothing is kept: churn leaves no entries.
	if u := b.snapshot(); u.used != 0 || u.peers != 0 {
		t.Fatalf("snapshot %+v after every release, want nothing held", u)
	}
	// A frame no share could hold is refused without waiting.
	start := time.Now()
	if _, err := b.reserve(context.Background(), peerA, 61, time.Minute); !errors.Is(err, errBudget) || time.Since(start) > time.Second {
		t.Fatalf("reserve beyond the share: %v after %v", err, time.Since(start))
	}
}

func TestFrameBudgetWaiterIsGrantedOnRelease(t *testing.T) {
	b := newFrameBudget(100, 100)
	mustReserve(t, b, peerA, 90)
	big := make(chan error, 1)
	go func() {
		_, err := b.reserve(context.Background(), peerB, 50, 5*time.Second)
		big <- err
	}()
	eventually(t, 5*time.Second, "the large reservation to wait", func() bool { return b.snapshot().waits == 1 })
	// A small reservation that would fit queues behind the large one, so a
	// stream of small frames cannot starve it.
	small := make(chan error, 1)
	go func() {
		_, err := b.reserve(context.Background(), peerC, 5, 5*time.Second)
		small <- err
	}()
	eventually(t, 5*time.Second, "the small reservation to wait", func() bool { return b.snapshot().waits == 2 })
	b.release(peerA, 90)
	for _, ch := range []chan error{big, small} {
		if err := <-ch; err != nil {
			t.Fatalf("waiting reservation: %v", err)
		}
	}
	if u := b.snapshot(); u.used != 55 {
		t.Fatalf("%d bytes used, want 55", u.used)
	}
}

func TestFrameBudgetWaitEndsWithContext(t *testing.T) {
	b := newFrameBudget(10, 10)
	mustReserve(t, b, peerA, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.reserve(ctx, peerB, 1, time.Minute)
		done <- err
	}()
	eventually(t, 5*time.Second, "the reservation to wait", func() bool { return b.snapshot().waits == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait went on")
	}
	b.release(peerA, 10)
	if u := b.snapshot(); u.used != 0 || u.peers != 0 {
		t.Fatalf("a cancelled wait left %+v", u)
	}
}

// A peer held back by its own share does not hold back other peers.
func TestFrameBudgetShareBlockedPeerDoesNotBlockOthers(t *testing.T) {
	b := newFrameBudget(100, 50)
	mustReserve(t, b, peerA, 50)
	done := make(chan error, 1)
	go func() {
		_, err := b.reserve(context.Background(), peerA, 10, 5*time.Second)
		done <- err
	}()
	eventually(t, 5*time.Second, "A's second reservation to wait", func() bool { return b.snapshot().waits == 1 })
	mustReserve(t, b, peerB, 40) // fits the total and B's share: no wait behind A
	b.release(peerA, 50)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if u := b.snapshot(); u.used != 50 || u.waits != 1 {
		t.Fatalf("snapshot %+v, want 50 bytes used after one wait", u)
	}
}
