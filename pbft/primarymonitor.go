package pbft

import (
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// A primary that delays every proposal to just under the view-change
// timeout is never suspected by the timer, yet cuts a closed-loop
// workload's throughput by orders of magnitude. So each backup also
// measures the primary, over windows of PerformanceWindowTicks: how long
// the requests it held waited for their pre-prepare (the propose delay),
// and how many requests and bytes the primary pre-prepared. It suspects the
// primary (the same non-binding suspicion the timer raises, see
// suspectPrimary, but not withdrawn by execution) when, in a window during
// which it always held a request waiting to be ordered, both
//
//   - the propose delay (see keyDelay) exceeded SlowPrimaryDelayFactor
//     times the baseline (the median of recent windows' delays, in any
//     view) and at least MinProposeDelayTicks, and
//   - the primary pre-prepared less than SlowPrimaryPercent of the most
//     requests, and of the most bytes, of a recent window.
//
// Each condition alone misfires on a correct primary: the delay rises
// under a flood of requests that the primary is busy ordering (throughput
// high), and throughput falls when clients send less (delays stay short).
// Only a primary that is slow to propose while work waits fails both. The
// view change itself still needs f+1 replicas to suspect.
//
// A window's delay is taken per client key (keyDelay): each key's median,
// then the lower median across keys. A correct primary serves keys round
// robin and holds a flooding key at its share, so the flood's thousands of
// requests wait long by design; measured per request they would be the
// median, and every primary the flood met would be suspected in turn (one
// key with 4,096 sessions did that to each primary in about a second).
// Per key the flood is one voice. The price: a faulty primary can slow
// fewer than half of the keys it is sent unnoticed by the monitor (it
// still serves them; a key it starves outright fires the view-change
// timer), where per request it could slow everyone but a colluding key
// that floods, and keys, unlike requests, are the cluster's to admit.
//
// What a request waited is counted from the latest of: when the backup got
// it from its client, when the view began (a new primary answers for its
// own view only), and the previous pre-prepare that served its key. A
// correct primary owes each key service in every batch, not the whole
// backlog the key sent at once: with 25 keys flooding, every key's median
// request had waited seconds behind its own, and the primary, its CPU
// spent verifying the flood, also proposed less than in the windows before;
// every primary was suspected in turn, about once a second (the
// SessionFlood attack, 15 view changes in 40 s). Measured since its key was
// last served, a flooding key waits one batch; a primary that delays every
// batch still shows in every key's wait.
type perfMonitor struct {
	view    uint64
	start   uint64 // tick the current window began
	starved bool   // a sampled tick found no request waiting for ordering
	// delays are the window's propose delays in ticks, per client key;
	// ndelays counts them all.
	delays  map[clientID][]uint64
	ndelays int
	reqs    uint64 // requests pre-prepared in the window
	bytes   uint64
	// recent are the last windows with work waiting throughout (none that
	// raised a suspicion), newest last, at most perfHistory.
	recent []windowPerf
	// served is, per client key, the tick+1 of the last pre-prepare of
	// servedView that carried one of its requests (entries older than a
	// window are pruned).
	served     map[clientID]uint64
	servedView uint64
}

type windowPerf struct {
	medianDelay, reqs, bytes uint64
}

const (
	// perfHistory windows make the baseline: with the default window of
	// 1 s, about the last minute.
	perfHistory = 60
	// perfMinWindows: no suspicion before this many windows are known, so
	// that a fresh cluster's first, cold windows set no expectation alone.
	perfMinWindows = 3
	// perfMaxDelays bounds the delays kept per window; past it the window
	// starts a new sample set, so its median is that of its last requests.
	perfMaxDelays = 4096
)

// observeProposed is called by a backup for each request of a pre-prepare
// it accepts, from client key; delay is how long the request waited for it
// (see proposeDelay), or -1 if the backup never held it from its client.
func (m *perfMonitor) observeProposed(client []byte, delay int64, size int) {
	m.reqs++
	m.bytes += uint64(size)
	if delay < 0 {
		return
	}
	if m.ndelays >= perfMaxDelays {
		m.clearDelays() // a new sample set; bounded
	}
	if m.delays == nil {
		m.delays = make(map[clientID][]uint64)
	}
	id := clientIDOf(client)
	m.delays[id] = append(m.delays[id], uint64(delay))
	m.ndelays++
}

// keyDelay is the window's propose delay: the lower median, across client
// keys, of each key's median delay (0 for none).
func (m *perfMonitor) keyDelay() uint64 {
	if m.ndelays == 0 {
		return 0
	}
	perKey := make([]uint64, 0, len(m.delays))
	for _, ds := range m.delays {
		if len(ds) > 0 {
			perKey = append(perKey, median(ds))
		}
	}
	slices.Sort(perKey)
	return perKey[(len(perKey)-1)/2]
}

// clearDelays empties the sample set, keeping each key's storage.
func (m *perfMonitor) clearDelays() {
	for k, ds := range m.delays {
		if len(ds) == 0 {
			delete(m.delays, k) // a key silent for a whole window
			continue
		}
		m.delays[k] = ds[:0]
	}
	m.ndelays = 0
}

// monitorPrimary runs every tick at a backup.
func (r *Replica) monitorPrimary() {
	m := &r.perf
	if r.cfg.SlowPrimaryPercent < 0 || !r.active || r.isPrimary() {
		m.reset(r.view, r.ticks)
		return
	}
	if m.view != r.view {
		m.reset(r.view, r.ticks)
	}
	if r.ticks%r.cfg.StatusTicks == 0 && !r.holdsUnorderedRequest() {
		m.starved = true
	}
	if r.ticks-m.start < r.cfg.PerformanceWindowTicks {
		return
	}
	w := windowPerf{medianDelay: m.keyDelay(), reqs: m.reqs, bytes: m.bytes}
	m.pruneServed(m.start)
	// A window in which the primary proposed nothing at all is the view
	// change timer's business (a silent primary, or one that never got the
	// request): the monitor judges a primary that proposes, slowly.
	measured := !m.starved && !r.behind() && w.reqs > 0
	m.reset(r.view, r.ticks)
	if !measured {
		return
	}
	if m.slow(w, r.cfg) {
		r.suspectSlowPrimary()
		return
	}
	m.recent = append(m.recent, w)
	if len(m.recent) > perfHistory {
		m.recent = slices.Delete(m.recent, 0, len(m.recent)-perfHistory)
	}
}

// slow applies the rule above to window w.
func (m *perfMonitor) slow(w windowPerf, cfg Config) bool {
	if len(m.recent) < perfMinWindows {
		// No baseline yet (a cluster that started under this primary, or
		// has always been loaded less than now): only a median delay of a
		// quarter of the view-change timeout is slow.
		return w.medianDelay > max(cfg.MinProposeDelayTicks, cfg.ViewChangeTicks/4)
	}
	var best windowPerf
	medians := make([]uint64, len(m.recent))
	for i, p := range m.recent {
		best.reqs, best.bytes = max(best.reqs, p.reqs), max(best.bytes, p.bytes)
		medians[i] = p.medianDelay
	}
	baseline := median(medians)
	delayed := w.medianDelay > max(cfg.MinProposeDelayTicks, cfg.SlowPrimaryDelayFactor*baseline)
	pct := uint64(cfg.SlowPrimaryPercent)
	starving := w.reqs*100 < pct*best.reqs && w.bytes*100 < pct*best.bytes
	return delayed && starving
}

func (m *perfMonitor) reset(view, tick uint64) {
	m.view, m.start, m.starved = view, tick, false
	m.clearDelays()
	m.reqs, m.bytes = 0, 0
}

// median of xs (0 for none); xs is reordered.
func median(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// holdsUnorderedRequest reports whether the replica holds a request no
// pre-prepare it accepted carries yet: work the primary has to order.
func (r *Replica) holdsUnorderedRequest() bool {
	for _, cs := range r.clients {
		if cs.pending != nil && !cs.ordered {
			return true
		}
	}
	return false
}

// suspectSlowPrimary raises a suspicion that execution does not withdraw:
// a slow primary does execute, slowly.
func (r *Replica) suspectSlowPrimary() {
	r.stats.SlowPrimarySuspicions++
	r.slowPrimary = true
	if !r.suspecting {
		r.suspecting = true
		r.stats.Suspicions++
		r.broadcastStatus()
	}
	r.maybeChangeView()
}

// observeProposals records, at a backup, the requests of a pre-prepare it
// accepts (before they are marked ordered), then marks their keys served.
func (r *Replica) observeProposals(reqs []*wire.Request) {
	if r.cfg.SlowPrimaryPercent < 0 {
		return // the monitor is off
	}
	m := &r.perf
	if m.servedView != r.view {
		clear(m.served)
		m.servedView = r.view
	}
	for _, req := range reqs {
		m.observeProposed(req.GetClientKey(), r.proposeDelay(req), len(req.GetOperation()))
	}
	if m.served == nil {
		m.served = make(map[clientID]uint64)
	}
	for _, req := range reqs {
		m.served[clientIDOf(req.GetClientKey())] = r.ticks + 1
	}
}

// proposeDelay is how long req waited for a pre-prepare to carry it: since
// the replica got it from its client, the view began, or a pre-prepare last
// served its key, whichever is latest (see perfMonitor); -1 if the replica
// did not get it from its client.
func (r *Replica) proposeDelay(req *wire.Request) int64 {
	cs := r.clients[keyOf(req)]
	if cs == nil || cs.heldAt == 0 || cs.ordered || cs.pending == nil || cs.pending.GetTimestamp() != req.GetTimestamp() {
		return -1
	}
	since := cs.heldAt
	if !bug(BugMonitorBlamesOldView) {
		since = max(since, r.viewEnteredAt+1)
	}
	if r.perf.servedView == r.view && !bug(BugMonitorCountsBacklog) {
		since = max(since, r.perf.served[clientIDOf(req.GetClientKey())])
	}
	return int64(r.ticks + 1 - since)
}

// pruneServed forgets the keys no pre-prepare served since tick: a key
// that comes back waits from when its request arrived.
func (m *perfMonitor) pruneServed(tick uint64) {
	for k, t := range m.served {
		if t <= tick {
			delete(m.served, k)
		}
	}
}

// clientID is a client public key as a map key that costs no allocation
// (a string made of the key's bytes did, once per request). Requests reach
// the monitor only with keys of the right size (checkRequestShape).
type clientID [crypto.PublicKeySize]byte

func clientIDOf(key []byte) (id clientID) {
	copy(id[:], key)
	return id
}
