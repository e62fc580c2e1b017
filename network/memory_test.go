package network

import (
	"encoding/binary"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// liveHeap is the heap the last collection found live, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// The attack the budget answers, replayed with the default limits: many
// streams each send all but the last byte of a largest client frame and
// stall. Before, each held its body (40 streams of 16 MiB frames took a
// replica from 33 MB to 693 MB); now what they hold is the client pool,
// whatever the number of streams, and nothing is left once they are gone.
func TestStalledFramesHoldNoMoreThanTheBudget(t *testing.T) {
	const (
		clients   = 20 // more than the client pool holds largest frames of
		perClient = 2  // more than a client's share holds
		frame     = DefaultMaxClientFrameSize
		// Everything but the bodies: each waiting stream's muxer buffers
		// up to its initial receive window (yamux: 256 KiB), and a few MiB
		// of buffers and bookkeeping.
		allowance = clients*perClient*256<<10 + 4<<20
	)
	c := newCluster(t, 1, false, func(cfg *Config) {
		// Long waits: every stream stays parked while the heap is measured.
		cfg.timings = timings{budgetWait: time.Minute, bodyGrace: time.Minute, bodyRate: 1 << 40}
	})
	r0 := c.hosts[0]
	body := make([]byte, frame-1) // shared by all writers: the senders' memory must not count
	hdr := binary.BigEndian.AppendUint32(nil, frame)
	var streams []network.Stream
	for range clients {
		h := rawClient(t)
		for range perClient {
			streams = append(streams, streamTo(t, h, c.peers[0], ClientProtocol))
		}
	}
	// Every stream announces its frame: the pool fills, the rest wait.
	// Hosts, connections and streams are in place; what grows from here is
	// what the bodies make the replica hold.
	for _, s := range streams {
		write(t, s, hdr)
	}
	eventually(t, 10*time.Second, "the client pool to fill", func() bool {
		b := budgetOf(r0)
		return b.ClientBytes >= DefaultClientFrameBudget && b.Waits > 0
	})
	before := liveHeap()
	for _, s := range streams {
		go func() { _, _ = s.Write(body) }()
	}
	// The admitted bodies arrive (all but their last byte), and the
	// waiting streams' windows fill, within moments on loopback.
	eventually(t, 10*time.Second, "the admitted bodies to arrive", func() bool {
		return int64(liveHeap())-int64(before) >= DefaultClientFrameBudget-1<<20
	})
	time.Sleep(300 * time.Millisecond)
	grew := int64(liveHeap()) - int64(before)
	t.Logf("%d streams announcing %d bytes each: live heap grew %d MiB", len(streams), frame, grew>>20)
	if limit := int64(DefaultClientFrameBudget + allowance); grew > limit {
		t.Fatalf("live heap grew %d bytes, beyond the client pool %d plus %d", grew, DefaultClientFrameBudget, allowance)
	}
	for _, s := range streams {
		_ = s.Reset()
	}
	eventually(t, 10*time.Second, "budget released", func() bool { b := budgetOf(r0); return b.ClientBytes == 0 && b.Peers == 0 })
	eventually(t, 10*time.Second, "the bodies to be freed", func() bool { return int64(liveHeap())-int64(before) < 4<<20 })
}
