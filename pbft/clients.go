package pbft

import (
	"cmp"
	"slices"
)

// The client table is replicated state with a stated maximum size. At each
// checkpoint, before its digest, every correct replica evicts the same
// sessions, since the choice depends on replicated state alone: first those
// idle for ClientIdleSequences sequence numbers, then, while more than
// MaxClientSessions remain or their results exceed MaxReplyCacheBytes, the
// least recently executed (ties broken by key). Exactly-once survives
// eviction through floors: an evicted session's last timestamp raises its
// client key's floor, and a request of that key from a session the table no
// longer holds must be above the floor to be admitted or executed, so a
// replay of an executed request never runs again. Clients stamp requests
// with their clock (the Go client does), so a session that comes back after
// eviction is above the floor. The floors themselves are bounded: past
// MaxClientFloors the lowest fold into one global floor.
//
// Between checkpoints the table grows by at most the sessions one checkpoint
// interval executes (CheckpointInterval x MaxBatchSize).

// sessionBytes is what one session costs the table's byte budget.
func sessionBytes(cs *clientState) int { return 64 + len(cs.lastResult) }

// floorOf is the timestamp a request of client key must exceed when the
// table holds no executed state for its session.
func (r *Replica) floorOf(client string) uint64 {
	return max(r.floors[client], r.globalFloor)
}

// belowFloor reports whether a request with timestamp ts of a session whose
// state is cs (nil: none) may be a replay of an evicted session's.
func (r *Replica) belowFloor(k sessionKey, cs *clientState, ts uint64) bool {
	return (cs == nil || cs.lastTS == 0) && ts <= r.floorOf(k.client)
}

// evictSessions applies the eviction rule at checkpoint seq.
func (r *Replica) evictSessions(seq uint64) {
	type candidate struct {
		key sessionKey
		cs  *clientState
	}
	var live []candidate
	count, bytes := 0, 0
	evictedBefore := r.stats.EvictedSessions
	idle := r.cfg.ClientIdleSequences
	for k, cs := range r.clients {
		if cs.lastTS == 0 {
			continue
		}
		if idle > 0 && cs.lastSeq+idle <= seq {
			r.evictSession(k, cs)
			continue
		}
		live = append(live, candidate{k, cs})
		count++
		bytes += sessionBytes(cs)
	}
	if count > r.cfg.MaxClientSessions || bytes > r.cfg.MaxReplyCacheBytes {
		slices.SortFunc(live, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(a.cs.lastSeq, b.cs.lastSeq), compareSessionKeys(a.key, b.key))
		})
		for _, c := range live {
			if count <= r.cfg.MaxClientSessions && bytes <= r.cfg.MaxReplyCacheBytes {
				break
			}
			count--
			bytes -= sessionBytes(c.cs)
			r.evictSession(c.key, c.cs)
		}
	}
	if r.stats.EvictedSessions != evictedBefore {
		defer r.dropHeldBelowFloors() // floors rose (after the global floor, below, moves)
	}
	if len(r.floors) > r.cfg.MaxClientFloors {
		keys := make([]string, 0, len(r.floors))
		for k := range r.floors {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(r.floors[a], r.floors[b]), cmp.Compare(a, b)) })
		for _, k := range keys[:len(keys)-r.cfg.MaxClientFloors] {
			r.globalFloor = max(r.globalFloor, r.floors[k])
			delete(r.floors, k)
		}
	}
}

// evictSession drops a session's replicated state, raising its key's floor;
// a request it still has outstanding here stays (it is above the floor).
func (r *Replica) evictSession(k sessionKey, cs *clientState) {
	if r.floors == nil {
		r.floors = make(map[string]uint64)
	}
	r.floors[k.client] = max(r.floors[k.client], cs.lastTS)
	r.stats.EvictedSessions++
	if cs.pending == nil {
		delete(r.clients, k)
		return
	}
	cs.lastTS, cs.lastResult, cs.lastSeq, cs.lastView = 0, nil, 0, 0
}

// ClientTableSize reports the sessions the replicated client table holds and
// the floors of evicted ones, for tests and metrics.
func (r *Replica) ClientTableSize() (sessions, floors int) {
	for _, cs := range r.clients {
		if cs.lastTS > 0 {
			sessions++
		}
	}
	return sessions, len(r.floors)
}

// dropHeldBelowFloors forgets the requests held for sessions that never
// executed whose timestamps the floors now refuse: no replica executes
// them (execute skips them as possible replays), so held they only took
// their key's share of held bytes for good, and fired backups' timers over
// requests no correct primary orders. A flood of fresh sessions all sending
// timestamp 1 left thousands behind at every replica once its first
// sessions were evicted. A correct client's timestamps rise above its
// key's floor, so only replays and such floods are dropped.
func (r *Replica) dropHeldBelowFloors() {
	if bug(BugHeldBelowFloorKept) {
		return
	}
	for k, cs := range r.clients {
		if cs.pending == nil || cs.ordered || !r.belowFloor(k, cs, cs.pending.GetTimestamp()) {
			continue
		}
		r.clearPending(k, cs)
		delete(r.clients, k) // it never executed: nothing replicated
		_ = r.drop(ErrStaleTimestamp, "held request at or below the floor %d of its key's evicted sessions", r.floorOf(k.client))
	}
}
