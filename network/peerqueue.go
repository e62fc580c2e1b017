package network

import "sync/atomic"

// sendQueue is one peer's bounded queue of encoded frames. It is bounded in
// messages and in bytes: a thousand state chunks near MaxFrameSize must not
// pin gigabytes for a peer that is down.
type sendQueue struct {
	ch       chan []byte
	bytes    atomic.Int64
	maxBytes int64
}

// queueBytes bounds one peer's queue in bytes: a peer that is down or slow
// costs at most this (or one maximal frame, if larger), however large the
// messages; what does not fit is dropped, and Status retransmits it later.
// Queues to three peers of 64 MiB each (the earlier budget) held 65 MB of
// 4 MB pre-prepares for a killed primary long after the attack that sent
// them (TestAttacks/LargeRequests).
const queueBytes = 16 << 20

func newSendQueue(messages, maxFrame int) *sendQueue {
	maxBytes := max(int64(queueBytes), int64(maxFrame+frameHeaderLen))
	return &sendQueue{ch: make(chan []byte, messages), maxBytes: maxBytes}
}

// push enqueues frame without blocking; false means the queue was full and
// the frame is dropped.
func (q *sendQueue) push(frame []byte) bool {
	n := int64(len(frame))
	if q.bytes.Add(n) > q.maxBytes {
		q.bytes.Add(-n)
		return false
	}
	select {
	case q.ch <- frame:
		return true
	default:
		q.bytes.Add(-n)
		return false
	}
}

// taken must be called for every frame received from ch.
func (q *sendQueue) taken(frame []byte) { q.bytes.Add(-int64(len(frame))) }
