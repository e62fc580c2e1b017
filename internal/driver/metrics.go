package driver

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Metrics are a replica's Prometheus metrics. Build them with NewMetrics and
// set Config.Metrics; the driver's goroutine updates them, and a nil
// *Metrics costs nothing. One Metrics serves one driver at a time.
type Metrics struct {
	view, lastExecuted, stableCheckpoint, viewChanging prometheus.Gauge

	viewChanges, executedBatches, executedRequests prometheus.Counter
	stateTransfers, equivocations                  prometheus.Counter
	batchFetches                                   prometheus.Counter
	evicted, rateLimited, refused                  prometheus.Counter
	statusQueries, statusDropped                   prometheus.Counter
	syncedWrites                                   prometheus.Counter
	suspicions, slowPrimarySuspicions              prometheus.Counter
	timeoutForwards                                prometheus.Counter
	dropped                                        *prometheus.CounterVec

	batchSize, batchBytes, commitLatency prometheus.Histogram

	// Owned by the driver's goroutine.
	lastSample time.Time
	lastView   uint64
	seenView   bool
	last       pbft.Stats // the counters already exported
	lastSynced uint64     // the store's synced operations already exported
	firstSeen  map[requestKey]time.Time
	lastSweep  time.Time
}

// requestKey names a request: PBFT orders one request per client session
// and timestamp.
type requestKey struct {
	client             string
	session, timestamp uint64
}

const (
	// sampleEvery bounds how often the replica's state and counters are read.
	sampleEvery = 100 * time.Millisecond
	// maxPending bounds the requests whose first-seen time is kept; requests
	// seen while it is full are not timed. The core holds at most one
	// pending request per session and pbft.DefaultMaxClientSessions
	// sessions, so this times every request it can order at once; with
	// 100,000 a flood of requests from fresh sessions (most never executed)
	// left 10 MB of entries behind for a minute.
	maxPending = pbft.DefaultMaxClientSessions
	// pendingMaxAge: a request not executed this long after it was first seen
	// (a duplicate, a stale timestamp, a dropped batch) is forgotten when the
	// map is full.
	pendingMaxAge = time.Minute
)

// NewMetrics registers replica's metrics, in namespace "bulwark" with a
// constant label replica="ID", on reg.
func NewMetrics(reg prometheus.Registerer, replica uint32) (*Metrics, error) {
	labels := prometheus.Labels{"replica": strconv.FormatUint(uint64(replica), 10)}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "bulwark", Name: name, Help: help, ConstLabels: labels})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "bulwark", Name: name, Help: help, ConstLabels: labels})
	}
	m := &Metrics{
		view:             gauge("view", "The replica's current view."),
		lastExecuted:     gauge("last_executed", "Sequence number of the last executed batch."),
		stableCheckpoint: gauge("stable_checkpoint", "Sequence number of the stable checkpoint."),
		viewChanging:     gauge("view_changing", "1 while a view change is in progress (VIEW-CHANGE sent, NEW-VIEW not yet accepted), else 0."),
		viewChanges:      counter("view_changes_total", "Views this replica moved to after it started."),
		executedBatches:  counter("executed_batches_total", "Batches executed."),
		syncedWrites:     counter("store_synced_writes_total", "Synced operations on the Badger store: writes of log records, snapshots and deletions (the protocol needs about two writes per batch)."),
		executedRequests: counter("executed_requests_total", "Requests applied to the service (a request whose timestamp its client already executed is not counted)."),
		stateTransfers:   counter("state_transfers_total", "Snapshots installed from peers."),
		batchFetches:     counter("batch_fetches_total", "FetchBatch requests sent: for batches a NEW-VIEW named by digest, or pre-prepares naming requests this replica lacked (a steady rate means clients are not sending their requests to every replica)."),
		equivocations:    counter("equivocations_total", "Proven equivocations by other replicas."),
		evicted:          counter("evicted_sessions_total", "Client sessions evicted from the replicated client table at checkpoints."),
		rateLimited:      counter("rate_limited_total", "Peers' Status and FetchState messages left unanswered: the peer asked faster than its rate."),
		refused:          counter("refused_requests_total", "Requests the service's admission check refused."),
		statusQueries:    counter("status_queries_total", "Client status queries answered."),
		statusDropped:    counter("status_queries_dropped_total", "Client status queries left unanswered: above the per-client or overall rate."),
		suspicions:       counter("suspicions_total", "Times this replica suspected its primary (timer fired or measured slow); a view change follows only where f+1 replicas do."),
		slowPrimarySuspicions: counter("slow_primary_suspicions_total",
			"Suspicions raised because the primary was measured slow to propose while requests waited, rather than by the view-change timer."),
		timeoutForwards: counter("timeout_forwards_total",
			"Held requests a backup forwarded to the primary when its view-change timer fired, before suspecting it: requests the primary dropped or never got."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bulwark", Name: "messages_dropped_total", ConstLabels: labels,
			Help: "Protocol messages the replica dropped, by reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "bulwark", Name: "batch_size", ConstLabels: labels,
			Help:    "Requests per executed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "bulwark", Name: "batch_bytes", ConstLabels: labels,
			Help:    "Encoded bytes of the requests of each executed batch.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 10),
		}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "bulwark", Name: "commit_latency_seconds", ConstLabels: labels,
			Help:    "Time from a request first reaching this replica (from its client or in a pre-prepare) to its execution.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		firstSeen: make(map[requestKey]time.Time),
	}
	for _, c := range []prometheus.Collector{
		m.view, m.lastExecuted, m.stableCheckpoint, m.viewChanging,
		m.viewChanges, m.executedBatches, m.executedRequests, m.stateTransfers, m.equivocations, m.batchFetches,
		m.syncedWrites, m.evicted, m.rateLimited, m.refused, m.statusQueries, m.statusDropped,
		m.suspicions, m.slowPrimarySuspicions, m.timeoutForwards,
		m.dropped, m.batchSize, m.batchBytes, m.commitLatency,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

func keyOf(req *wire.Request) requestKey {
	return requestKey{client: string(req.GetClientKey()), session: req.GetSession(), timestamp: req.GetTimestamp()}
}

// observeInbound notes when each request is first seen: from its client or
// inside a pre-prepare.
func (m *Metrics) observeInbound(msg *wire.Message, now time.Time) {
	if req := msg.GetRequest(); req != nil {
		m.seen(req, now)
	} else if pp := msg.GetPrePrepare(); pp != nil {
		for _, req := range pp.GetRequests() {
			m.seen(req, now)
		}
	}
}

func (m *Metrics) seen(req *wire.Request, now time.Time) {
	if req.GetReadOnly() {
		return // answered without ordering: never executed in a batch
	}
	k := keyOf(req)
	if _, ok := m.firstSeen[k]; ok {
		return
	}
	if len(m.firstSeen) >= maxPending {
		if now.Sub(m.lastSweep) < time.Second {
			return
		}
		m.lastSweep = now
		for k, t := range m.firstSeen {
			if now.Sub(t) > pendingMaxAge {
				delete(m.firstSeen, k)
			}
		}
		if len(m.firstSeen) >= maxPending {
			return
		}
	}
	m.firstSeen[k] = now
}

// observeReady counts the batches rd executed and times their requests.
func (m *Metrics) observeReady(rd pbft.Ready, now time.Time) {
	for _, ex := range rd.Executed {
		applied := 0
		for i, req := range ex.Requests {
			k := keyOf(req)
			t, ok := m.firstSeen[k]
			if ok {
				delete(m.firstSeen, k)
			}
			if i < len(ex.Skipped) && ex.Skipped[i] {
				continue
			}
			applied++
			if ok {
				m.commitLatency.Observe(now.Sub(t).Seconds())
			}
		}
		m.executedBatches.Inc()
		m.executedRequests.Add(float64(applied))
		m.batchSize.Observe(float64(len(ex.Requests)))
		bytes := 0
		for _, req := range ex.Requests {
			bytes += proto.Size(req)
		}
		m.batchBytes.Observe(float64(bytes))
		if ex.Sequence > 0 {
			m.lastExecuted.Set(float64(ex.Sequence))
		}
	}
	if rd.View != nil {
		m.noteView(rd.View.View)
		m.view.Set(float64(rd.View.View))
		m.viewChanging.Set(boolFloat(rd.View.Changing))
	}
}

// noteView counts each view above the highest one seen once.
func (m *Metrics) noteView(v uint64) {
	if !m.seenView {
		m.lastView, m.seenView = v, true
		return
	}
	if v > m.lastView {
		m.viewChanges.Add(float64(v - m.lastView))
		m.lastView = v
	}
}

// observeReplica samples r's state and counters, at most every sampleEvery
// unless force is set.
func (m *Metrics) observeReplica(r *pbft.Replica, now time.Time, force bool) {
	if !force && now.Sub(m.lastSample) < sampleEvery {
		return
	}
	m.lastSample = now
	m.noteView(r.View())
	m.view.Set(float64(r.View()))
	m.viewChanging.Set(boolFloat(r.ViewChanging()))
	m.lastExecuted.Set(float64(r.LastExecuted()))
	m.stableCheckpoint.Set(float64(r.StableCheckpoint()))
	s := r.Stats()
	m.stateTransfers.Add(delta(s.StateTransfers, &m.last.StateTransfers))
	m.batchFetches.Add(delta(s.BatchFetches, &m.last.BatchFetches))
	m.equivocations.Add(delta(s.Equivocations, &m.last.Equivocations))
	m.evicted.Add(delta(s.EvictedSessions, &m.last.EvictedSessions))
	m.rateLimited.Add(delta(s.RateLimited, &m.last.RateLimited))
	m.refused.Add(delta(s.Refused, &m.last.Refused))
	m.suspicions.Add(delta(s.Suspicions, &m.last.Suspicions))
	m.slowPrimarySuspicions.Add(delta(s.SlowPrimarySuspicions, &m.last.SlowPrimarySuspicions))
	m.timeoutForwards.Add(delta(s.TimeoutForwards, &m.last.TimeoutForwards))
	if m.last.Dropped == nil {
		m.last.Dropped = make(map[string]uint64, len(s.Dropped))
	}
	for reason, n := range s.Dropped {
		last := m.last.Dropped[reason]
		m.dropped.WithLabelValues(reason).Add(delta(n, &last))
		m.last.Dropped[reason] = last
	}
}

// observeStore exports the synced operations a store counted so far.
func (m *Metrics) observeStore(synced uint64) {
	m.syncedWrites.Add(delta(synced, &m.lastSynced))
}

// reset forgets the counters already exported: a driver starting with these
// Metrics restarts its replica's counters from zero.
func (m *Metrics) reset(r *pbft.Replica) {
	m.last, m.lastSynced = pbft.Stats{}, 0
	m.seenView = false
	m.lastSample = time.Time{}
	m.observeReplica(r, time.Now(), true)
}

// delta is how much a cumulative counter grew since *last, which it updates.
func delta(now uint64, last *uint64) float64 {
	d := now - *last
	if now < *last {
		d = now // restarted from zero
	}
	*last = now
	return float64(d)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
