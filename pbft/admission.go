package pbft

import "github.com/bulwark-bft/bulwark/pbft/wire"

// queued is a request waiting at the primary for a batch.
type queued struct {
	key  sessionKey
	req  *wire.Request
	size int // encoded bytes, counted against MaxBatchBytes
}

// admission is the primary's queue of requests awaiting a batch: one FIFO
// per client key, served round-robin, so a key that floods the primary
// delays its own requests only. Each key's FIFO and the total are bounded;
// what does not fit is dropped and counted, and the client retransmits.
type admission struct {
	byKey map[string][]queued
	ring  []string // keys with queued requests, in the order they are served
	next  int      // where in ring the next batch starts
	total int      // queued requests
	bytes int      // their encoded size
}

func (a *admission) len() int { return a.total }

func (a *admission) reset() { *a = admission{} }

// push queues q at the back of its key's FIFO. It reports false when the
// key's FIFO or the whole queue is full.
func (a *admission) push(q queued, perKey, total int) bool {
	if a.byKey == nil {
		a.byKey = make(map[string][]queued)
	}
	fifo := a.byKey[q.key.client]
	if len(fifo) >= perKey || a.total >= total {
		return false
	}
	if len(fifo) == 0 {
		a.ring = append(a.ring, q.key.client)
	}
	a.byKey[q.key.client] = append(fifo, q)
	a.total++
	a.bytes += q.size
	return true
}

// compact drops from key's FIFO the entries stale reports as such (executed,
// superseded or already ordered), so a client that replaces its requests
// does not fill its share with dead entries.
func (a *admission) compact(key string, stale func(queued) bool) {
	fifo := a.byKey[key]
	kept := fifo[:0]
	for _, q := range fifo {
		if stale(q) {
			a.total--
			a.bytes -= q.size
			continue
		}
		kept = append(kept, q)
	}
	a.byKey[key] = kept
	if len(kept) == 0 {
		a.dropKey(key)
	}
}

// contention returns whether a key at its share must wait: only for another
// key, one queued beside it or one with requests in flight whose next ones
// need room. A lone key fills whole batches.
func (a *admission) contention(othersActive func(key string) bool) func(key string) bool {
	return func(key string) bool { return len(a.ring) > 1 || othersActive(key) }
}

// fillsBatch reports whether take, called now, would fill a batch: maxCount
// requests or maxBytes bytes of keys not held at their share. The queue's
// length alone does not say: a flood held at its share keeps it long, and
// counting it had the primary send out, while batches were in flight, one
// tiny batch after another of what else had just arrived, until the
// pipeline was full of them (the bench's flood-client run: 8 requests a
// batch). Stale entries count; take discards them.
func (a *admission) fillsBatch(maxCount, maxBytes int, busy func(key string, taking inflightUse) bool, othersActive func(key string) bool) bool {
	if a.total < maxCount && a.bytes < maxBytes {
		return false
	}
	contended := a.contention(othersActive)
	count, size := 0, 0
	for _, k := range a.ring {
		var u inflightUse
		for _, q := range a.byKey[k] {
			if busy(k, u) && contended(k) {
				break
			}
			count, size = count+1, size+q.size
			if count >= maxCount || size >= maxBytes {
				return true
			}
			u = inflightUse{requests: u.requests + 1, bytes: u.bytes + q.size}
		}
	}
	return false
}

// dropKey removes key from the ring once its FIFO is empty.
func (a *admission) dropKey(key string) {
	delete(a.byKey, key)
	for i, k := range a.ring {
		if k == key {
			a.ring = append(a.ring[:i], a.ring[i+1:]...)
			if a.next > i {
				a.next--
			}
			break
		}
	}
	if a.next >= len(a.ring) {
		a.next = 0
	}
}

// take fills a batch round-robin, one request per key per pass: at most
// maxCount requests and maxBytes bytes (but always the first valid one).
// usable reports whether a queued request is still to be ordered; those
// that are not are discarded on the way. Keys for which busy reports true
// (at their share of the requests in flight) wait while some other key can
// be served: a key that floods then fills the pipeline only when nobody
// else needs it, and another key's requests never queue behind its batches.
func (a *admission) take(maxCount, maxBytes int, usable func(queued) bool, busy func(key string, taking inflightUse) bool, othersActive func(key string) bool) []queued {
	skip := make(map[string]bool)
	taking := make(map[string]inflightUse) // what this batch takes of each key so far
	contended := a.contention(othersActive)
	for _, k := range a.ring {
		if busy(k, inflightUse{}) && contended(k) {
			skip[k] = true
		}
	}
	var batch []queued
	size := 0
	for a.total > 0 && len(batch) < maxCount && len(skip) < len(a.ring) {
		if a.next >= len(a.ring) {
			a.next = 0
		}
		key := a.ring[a.next]
		if skip[key] {
			a.next++
			continue
		}
		fifo := a.byKey[key]
		q := fifo[0]
		ok := usable(q)
		if ok && len(batch) > 0 && size+q.size > maxBytes {
			return batch // full by bytes; q waits at the head of its FIFO
		}
		if ok {
			batch = append(batch, q)
			size += q.size
			t := taking[key]
			taking[key] = inflightUse{requests: t.requests + 1, bytes: t.bytes + q.size}
			if busy(key, taking[key]) && contended(key) {
				skip[key] = true // it reached its share with this one
			}
		}
		fifo[0] = queued{}
		a.byKey[key] = fifo[1:]
		a.total--
		a.bytes -= q.size
		if len(fifo) == 1 {
			delete(skip, key)
			a.dropKey(key) // a.next now names the key after it
		} else {
			a.next++
		}
	}
	return batch
}
