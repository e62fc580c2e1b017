package systest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/bench"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// The bounds every attack test holds the cluster to.
const (
	// attackRSSCeiling: no replica's anonymous resident memory (RssAnon:
	// the Go heap and stacks, what the replica itself holds) may reach it
	// while attacked, sampled every 100 ms. The resident set also counts
	// file pages of Badger's memory-mapped files, which are the kernel's
	// page cache of the data directory and reclaimed at will; it is logged
	// (with VmHWM, the kernel's peak), not bounded.
	attackRSSCeiling = 256 << 20
	// attackRSSSlack: once the attack is over, every replica's anonymous
	// memory must come back within this much of what it was idle before
	// the attack, within attackRSSSettle.
	attackRSSSlack  = 64 << 20
	attackRSSSettle = 15 * time.Second
	// idleSampling is how long the idle figure is sampled (settle).
	idleSampling = 2 * time.Second
	// attackOpBound: every legitimate put and get during an attack
	// completes within it: 2.5 times the view-change timeout (2 s), so an
	// operation may wait out one suspicion of the primary but no more.
	attackOpBound = 5 * time.Second
	// attackAfterBound: and within this once the attack is over, the
	// view-change timeout: a correct primary serving correct clients
	// must never give a backup cause to suspect it.
	attackAfterBound = 2 * time.Second
	// attackWarmup is how long the legitimate load runs before the attack,
	// before the idle figure is taken.
	attackWarmup = 4 * time.Second
	// attackAfter is how long the legitimate load runs after the attack
	// before the memory check (which waits up to attackRSSSettle more).
	attackAfter = 3 * time.Second
)

// attackCluster is a procCluster whose replicas serve --metrics, with the
// resident sets they idled at before the attack.
type attackCluster struct {
	*procCluster
	urls []string
	http *http.Client
	idle []memory
}

// startAttackCluster starts four replica processes with proto, each serving
// its metrics on a free loopback port.
func startAttackCluster(t *testing.T, bin string, proto bulwark.Protocol) *attackCluster {
	t.Helper()
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	ac := &attackCluster{http: &http.Client{Timeout: 2 * time.Second}}
	t.Cleanup(ac.http.CloseIdleConnections)
	for _, p := range ports {
		ac.urls = append(ac.urls, fmt.Sprintf("http://127.0.0.1:%d/metrics", p))
	}
	ac.procCluster = startProcClusterWith(t, bin, proto, func(_ string, id int) []string {
		return []string{"--metrics", fmt.Sprintf("127.0.0.1:%d", ports[id])}
	})
	return ac
}

// keyOf loads replica id's private key from the testnet directory.
func (ac *attackCluster) keyOf(id int) *crypto.PrivateKey {
	ac.t.Helper()
	key, err := crypto.LoadPrivateKey(filepath.Join(testnet.ReplicaDir(filepath.Dir(ac.path), uint32(id)), "key"))
	if err != nil {
		ac.t.Fatal(err)
	}
	return key
}

// settle brings the stores to their steady state (4 MB of puts: Badger
// then has flushed memtables and keeps its table builders' buffers for
// good), waits until the four replicas agree, then a second,
// and records each one's idle memory. Measured before the first flush, the
// idle figure would make any later load look like a leak.
func (ac *attackCluster) settle(ctx context.Context, cl *bulwark.Client) {
	ac.t.Helper()
	preload(ctx, ac.t, ac, "steady", 1000, 4<<10, 16)
	ac.waitStatus(ctx, "four replicas in agreement before the attack", 30*time.Second,
		func(sts []replicaStatus) bool { return converged(sts, 0, 1, 2, 3) },
		func() { checkedPuts(ctx, ac.t, cl, "settle", 0, 2) })
	time.Sleep(time.Second)
	// A Go heap swings between its live size and twice that as the
	// collector runs, and Badger's flushes take buffers for a moment: one
	// sample may catch a trough (a replica measured 29 MiB idle where the
	// same state usually measures 45-56). The idle figure is the highest
	// sample over idleSampling, as the check after the attack takes the
	// first sample under its limit.
	ac.idle = make([]memory, 4)
	for end := time.Now().Add(idleSampling); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for id, p := range ac.procs {
			m, err := memoryOf(p.cmd.Process.Pid)
			if err != nil {
				ac.t.Fatal(err)
			}
			if m.anon > ac.idle[id].anon {
				ac.idle[id] = m
			}
		}
	}
	if dir := os.Getenv("BULWARK_ATTACK_HEAP_DIR"); dir != "" {
		for id := range ac.procs {
			ac.saveHeap(dir, id, "idle") // the base to compare "after" with: go tool pprof -base
		}
	}
	ac.t.Logf("idle: VmRSS %.0f, %.0f, %.0f, %.0f MiB", mib(ac.idle[0].rss), mib(ac.idle[1].rss), mib(ac.idle[2].rss), mib(ac.idle[3].rss))
}

// series names one Prometheus series as the text format prints it: the
// labels sorted, the replica label added.
func series(name string, id int, labels ...string) string {
	pairs := []string{fmt.Sprintf("replica=%q", strconv.Itoa(id))}
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// metrics scrapes replica id: every series with its value. ok is false
// when the replica does not answer.
func (ac *attackCluster) metrics(id int) (map[string]float64, bool) {
	resp, err := ac.http.Get(ac.urls[id])
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err() == nil
}

// metric is one series' value at replica id; ok is false when the replica
// does not export it (or does not answer).
func (ac *attackCluster) metric(id int, name string, labels ...string) (float64, bool) {
	m, up := ac.metrics(id)
	if !up {
		return 0, false
	}
	v, ok := m[series(name, id, labels...)]
	return v, ok
}

// expectCounter fails the test unless replica id's series reaches min
// within wait: the attack must show in the replica's own metrics. A series
// the replica does not export at all is reported as missing, so a missing
// counter and one that never moved read differently.
func (ac *attackCluster) expectCounter(id int, min float64, wait time.Duration, name string, labels ...string) {
	ac.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		v, ok := ac.metric(id, name, labels...)
		if ok && v >= min {
			ac.t.Logf("replica %d: %s = %v", id, series(name, id, labels...), v)
			return
		}
		if time.Now().After(deadline) {
			if !ok {
				ac.t.Errorf("replica %d: no series %s on --metrics (the counter the attack should show in is missing)", id, series(name, id, labels...))
			} else {
				ac.t.Errorf("replica %d: %s = %v, want at least %v", id, series(name, id, labels...), v, min)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectPrimaryKept checks that none of the replicas ids changed views: the
// attack (from clients, or a replica that is not the primary) did not make
// the correct replicas replace their correct primary (a view change per
// attack costs every client a timeout, and a flood that forces them at
// will keeps the cluster down).
func (ac *attackCluster) expectPrimaryKept(ids []int) {
	ac.t.Helper()
	for _, id := range ids {
		v, ok := ac.metric(id, "bulwark_view_changes_total")
		switch {
		case !ok:
			ac.t.Errorf("replica %d: no series %s on --metrics", id, series("bulwark_view_changes_total", id))
		case v != 0:
			s, _ := ac.metric(id, "bulwark_suspicions_total")
			slow, _ := ac.metric(id, "bulwark_slow_primary_suspicions_total")
			ac.t.Errorf("replica %d changed views %v times under a client attack (%v suspicions, %v of them of a slow primary)", id, v, s, slow)
		}
	}
}

// expectCounterSum is expectCounter for the sum of the series of name
// whose label has one of values; missing series count 0, and all of them
// missing is reported as such.
func (ac *attackCluster) expectCounterSum(id int, min float64, wait time.Duration, name, label string, values ...string) {
	ac.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		m, _ := ac.metrics(id)
		sum, found := 0.0, 0
		var parts []string
		for _, v := range values {
			if x, ok := m[series(name, id, label, v)]; ok {
				sum += x
				found++
				parts = append(parts, fmt.Sprintf("%s %v", v, x))
			} else {
				parts = append(parts, v+" missing")
			}
		}
		if found > 0 && sum >= min {
			ac.t.Logf("replica %d: %s by %s: %s", id, name, label, strings.Join(parts, ", "))
			return
		}
		if time.Now().After(deadline) {
			ac.t.Errorf("replica %d: %s{%s in %v} sum to %v, want at least %v (%s)", id, name, label, values, sum, min, strings.Join(parts, ", "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logMetrics logs, for information, the series of every replica whose
// names start with one of prefixes and whose value is not 0.
func (ac *attackCluster) logMetrics(prefixes ...string) {
	for id := range 4 {
		m, up := ac.metrics(id)
		if !up {
			ac.t.Logf("replica %d: metrics not served", id)
			continue
		}
		var lines []string
		for k, v := range m {
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) && v != 0 {
					lines = append(lines, fmt.Sprintf("%s %v", k, v))
					break
				}
			}
		}
		slices.Sort(lines)
		ac.t.Logf("replica %d metrics:\n  %s", id, strings.Join(lines, "\n  "))
	}
}

// rssMonitor samples the replicas' resident sets every 100 ms while an
// attack runs and keeps each one's peak.
type rssMonitor struct {
	ac   *attackCluster
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak []int64 // of RssAnon
	rss  []int64 // of VmRSS
	// dumped marks the replicas whose heap profile was saved on passing
	// heapDumpAt (see BULWARK_ATTACK_HEAP_DIR).
	dumped []bool
}

// heapDumpAt is the anonymous memory at which a replica's heap profile is
// saved, once per attack, when BULWARK_ATTACK_HEAP_DIR is set: what holds
// the memory near the ceiling.
const heapDumpAt = 200 << 20

func (ac *attackCluster) monitorRSS() *rssMonitor {
	m := &rssMonitor{ac: ac, stop: make(chan struct{}), done: make(chan struct{}), peak: make([]int64, 4), rss: make([]int64, 4), dumped: make([]bool, 4)}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			m.sample()
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *rssMonitor) sample() {
	for id, p := range m.ac.procs {
		if p.exited() {
			continue
		}
		if mem, err := memoryOf(p.cmd.Process.Pid); err == nil {
			m.mu.Lock()
			m.peak[id] = max(m.peak[id], mem.anon)
			m.rss[id] = max(m.rss[id], mem.rss, mem.hwm)
			dump := mem.anon >= heapDumpAt && !m.dumped[id]
			m.dumped[id] = m.dumped[id] || dump
			m.mu.Unlock()
			if dir := os.Getenv("BULWARK_ATTACK_HEAP_DIR"); dump && dir != "" {
				m.ac.saveHeap(dir, id, "peak")
			}
		}
	}
}

// finish ends the sampling and checks that no running replica's anonymous
// memory reached attackRSSCeiling.
func (m *rssMonitor) finish() []int64 {
	m.ac.t.Helper()
	close(m.stop)
	<-m.done
	m.sample()
	for id, p := range m.ac.procs {
		if p.exited() {
			continue
		}
		if m.peak[id] >= attackRSSCeiling {
			m.ac.t.Errorf("replica %d: anonymous memory peaked at %.0f MiB during the attack (resident set %.0f MiB), want under %d MiB",
				id, mib(m.peak[id]), mib(m.rss[id]), attackRSSCeiling>>20)
		}
	}
	m.ac.t.Logf("peak anonymous memory during the attack: %.0f, %.0f, %.0f, %.0f MiB (idle %.0f, %.0f, %.0f, %.0f); peak resident set %.0f, %.0f, %.0f, %.0f MiB",
		mib(m.peak[0]), mib(m.peak[1]), mib(m.peak[2]), mib(m.peak[3]),
		mib(m.ac.idle[0].anon), mib(m.ac.idle[1].anon), mib(m.ac.idle[2].anon), mib(m.ac.idle[3].anon),
		mib(m.rss[0]), mib(m.rss[1]), mib(m.rss[2]), mib(m.rss[3]))
	return m.peak
}

// expectRSSBack waits up to attackRSSSettle for every running replica's
// anonymous memory to come back within attackRSSSlack (plus state, what the
// attack's data legitimately costs) of its idle one. A restarted replica is
// held to its predecessor's idle figure.
func (ac *attackCluster) expectRSSBack(state int64) {
	ac.t.Helper()
	// BULWARK_ATTACK_HEAP_DIR=DIR saves each replica's heap profile there
	// some seconds after the attack (go tool pprof DIR/FILE): what holds the
	// memory when this check fails.
	if dir := os.Getenv("BULWARK_ATTACK_HEAP_DIR"); dir != "" {
		time.Sleep(12 * time.Second)
		for id := range ac.procs {
			ac.saveHeap(dir, id, "after")
		}
	}
	deadline := time.Now().Add(attackRSSSettle)
	start := time.Now()
	for {
		var high []string
		now := make([]float64, 4)
		for id, p := range ac.procs {
			if p.exited() {
				continue
			}
			mem, err := memoryOf(p.cmd.Process.Pid)
			if err != nil {
				continue
			}
			now[id] = mib(mem.anon)
			if limit := ac.idle[id].anon + attackRSSSlack + state; mem.anon > limit {
				high = append(high, fmt.Sprintf("replica %d at %.0f MiB anonymous, %.0f resident (idle %.0f anonymous, limit %.0f)",
					id, mib(mem.anon), mib(mem.rss), mib(ac.idle[id].anon), mib(limit)))
			}
		}
		if len(high) == 0 {
			ac.t.Logf("anonymous memory back near idle %v after the attack: %.0f, %.0f, %.0f, %.0f MiB",
				time.Since(start).Round(100*time.Millisecond), now[0], now[1], now[2], now[3])
			return
		}
		if time.Now().After(deadline) {
			ac.t.Errorf("anonymous memory not back within %d MiB of idle %v after the attack: %s",
				attackRSSSlack>>20, attackRSSSettle, strings.Join(high, "; "))
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// converge waits for the four replicas to agree at the end, giving them
// operations to order meanwhile.
func (ac *attackCluster) converge(ctx context.Context, cl *bulwark.Client, timeout time.Duration) {
	ac.t.Helper()
	poke := 0
	sts := ac.waitStatus(ctx, "the four replicas converged after the attack", timeout,
		func(sts []replicaStatus) bool { return converged(sts, 0, 1, 2, 3) },
		func() { // something to order; the legitimate load already checked the results
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, _ = kvDo(pctx, cl, kv.EncodePut(fmt.Appendf(nil, "converge-%d", poke), []byte("v")), false)
			poke++
		})
	ac.t.Logf("converged: view %d, last executed %d, stable checkpoint %d", sts[0].View, sts[0].LastExecuted, sts[0].StableCheckpoint)
}

// legitLoad is a legitimate client's ordered puts, each read back and
// checked, on its own sessions, timed one by one. Each operation is held
// to the bound of the phase it started in.
type legitLoad struct {
	t      *testing.T
	cl     *bulwark.Client
	prefix string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	phase  *legitPhase
	phases []*legitPhase
}

type legitPhase struct {
	name     string
	bound    time.Duration
	started  time.Time
	ops      int // puts and gets completed and checked
	lat      []time.Duration
	failures []string
}

// startLegit runs workers sessions of puts and gets; the first phase is
// named and bounded as given.
func startLegit(ctx context.Context, t *testing.T, cl *bulwark.Client, prefix string, workers int, phase string, bound time.Duration) *legitLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &legitLoad{t: t, cl: cl, prefix: prefix, cancel: cancel}
	l.setPhase(phase, bound)
	for w := range workers {
		l.wg.Go(func() { l.worker(ctx, w) })
	}
	return l
}

func (l *legitLoad) setPhase(name string, bound time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = &legitPhase{name: name, bound: bound, started: time.Now()}
	l.phases = append(l.phases, l.phase)
}

func (l *legitLoad) current() *legitPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

func (l *legitLoad) worker(ctx context.Context, w int) {
	for n := 0; ctx.Err() == nil; n++ {
		k, v := fmt.Sprintf("%s-%d-%d", l.prefix, w, n), fmt.Sprintf("value-%d-%d", w, n)
		l.op(ctx, fmt.Sprintf("put %s", k), kv.EncodePut([]byte(k), []byte(v)), false, func(r kv.Result) error {
			if r.Status != kv.StatusOK {
				return fmt.Errorf("status %v", r.Status)
			}
			return nil
		})
		l.op(ctx, fmt.Sprintf("get %s", k), kv.EncodeGet([]byte(k)), true, func(r kv.Result) error {
			if r.Status != kv.StatusOK || string(r.Value) != v {
				return fmt.Errorf("got %v %q, want %q", r.Status, r.Value, v)
			}
			return nil
		})
	}
}

// op runs one operation. It is given three times its phase's bound before
// it is abandoned as failed, so that a stuck cluster fails the test rather
// than hanging it; its latency is judged against the bound itself.
func (l *legitLoad) op(ctx context.Context, what string, op []byte, readOnly bool, check func(kv.Result) error) {
	ph := l.current()
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*ph.bound)
	defer cancel()
	begin := time.Now()
	r, err := kvDo(octx, l.cl, op, readOnly)
	took := time.Since(begin)
	if err == nil {
		err = check(r)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		ph.failures = append(ph.failures, fmt.Sprintf("%s after %v: %v", what, took.Round(time.Millisecond), err))
		return
	}
	ph.ops++
	ph.lat = append(ph.lat, took)
	if took > ph.bound {
		ph.failures = append(ph.failures, fmt.Sprintf("%s took %v, over the bound of %v", what, took.Round(time.Millisecond), ph.bound))
	}
}

// stop ends the load, waits for the operations in flight and checks every
// phase: no failure, no operation over its bound, and some operations
// completed in each.
func (l *legitLoad) stop() {
	l.t.Helper()
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, ph := range l.phases {
		end := time.Now()
		if i+1 < len(l.phases) {
			end = l.phases[i+1].started
		}
		slices.Sort(ph.lat)
		p50, p99, worst := time.Duration(0), time.Duration(0), time.Duration(0)
		if n := len(ph.lat); n > 0 {
			p50, p99, worst = ph.lat[n/2], ph.lat[min(n-1, n*99/100)], ph.lat[n-1]
		}
		l.t.Logf("legitimate client %s the attack (%.1f s): %d puts and gets, latency p50 %v p99 %v max %v (bound %v), %d failures",
			ph.name, end.Sub(ph.started).Seconds(), ph.ops, p50.Round(time.Millisecond), p99.Round(time.Millisecond),
			worst.Round(time.Millisecond), ph.bound, len(ph.failures))
		if len(ph.failures) > 0 {
			l.t.Errorf("legitimate client %s the attack: %d of %d operations failed or were late, the first: %s",
				ph.name, len(ph.failures), ph.ops+len(ph.failures)-countLate(ph.failures), strings.Join(ph.failures[:min(5, len(ph.failures))], "; "))
		}
		if ph.ops == 0 {
			l.t.Errorf("legitimate client %s the attack: no operation completed", ph.name)
		}
	}
}

func countLate(failures []string) int {
	n := 0
	for _, f := range failures {
		if strings.Contains(f, "over the bound") {
			n++
		}
	}
	return n
}

// attackRawHost is a bare libp2p host with the identity of key, dialling
// only, over TCP: for the attacks that hold many connections, where one
// transport per host keeps this process's cost down. It has no resource
// limits: the limits under test are the replicas'.
func attackRawHost(key *crypto.PrivateKey) (host.Host, error) {
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(append(key.Seed(), key.PublicKey()...))
	if err != nil {
		return nil, err
	}
	return libp2p.New(
		libp2p.Identity(sk),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&p2pnet.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.DisableIdentifyAddressDiscovery(),
	)
}

// clientStream opens a client-protocol stream from h to replica id.
func (ac *attackCluster) clientStream(ctx context.Context, h host.Host, id int) (p2pnet.Stream, error) {
	p := ac.c.Peers[id]
	h.Peerstore().AddAddrs(p.PeerID, p.Addrs, peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return h.NewStream(ctx, p.PeerID, network.ClientProtocol)
}

// frameOf encodes m as the transport frames it.
func frameOf(t *testing.T, m *wire.Message) []byte {
	body, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bench.Frame(body)
}

// discard reads and drops what a stream carries until it ends, so that a
// replica's answers to an attacker are sent in full.
func discard(s p2pnet.Stream) { _, _ = io.Copy(io.Discard, s) }

// saveHeap writes replica id's heap profile to dir, named after the test,
// the replica and when (go tool pprof DIR/FILE); a replica that does not
// answer is skipped: the profile is a diagnosis, not a check.
func (ac *attackCluster) saveHeap(dir string, id int, when string) {
	resp, err := ac.http.Get(strings.Replace(ac.urls[id], "/metrics", "/debug/pprof/heap", 1))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err == nil {
		_ = os.WriteFile(fmt.Sprintf("%s/%s-%d-%s.pprof", dir, strings.ReplaceAll(ac.t.Name(), "/", "_"), id, when), b, 0o644)
	}
}
