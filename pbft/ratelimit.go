package pbft

// tickBucket is a token bucket in ticks, the core's only clock: it refills
// one token per tick up to burst. The core answers peers' Status messages
// (with resends) and FetchState requests (with state chunks) from such
// buckets, per peer, so that a faulty replica repeating cheap messages
// cannot make this one send without bound.
type tickBucket struct {
	tokens uint64
	at     uint64 // tick of the last refill
	used   bool   // at is set
}

// take spends one token at tick now, refilling first; false when empty.
func (b *tickBucket) take(now, burst uint64) bool {
	if !b.used {
		b.tokens, b.at, b.used = burst, now, true
	}
	b.tokens = min(burst, b.tokens+(now-b.at))
	b.at = now
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}
