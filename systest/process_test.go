package systest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"go.uber.org/goleak"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// TestProcesses builds the bulwark binary and runs it as separate OS
// processes: four `bulwark replica` processes on loopback, driven by
// `bulwark client`, `bulwark status` and the Go client library.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs replica processes")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBulwark(t, t.TempDir())
	t.Run("PrimaryCrash", func(t *testing.T) { testProcessPrimaryCrash(t, bin) })
	t.Run("Faults", func(t *testing.T) { testProcessFaults(t, bin) })
	t.Run("BadInput", func(t *testing.T) { testProcessBadInput(t, bin) })
	t.Run("Memory", func(t *testing.T) { testProcessMemory(t, bin) })
	t.Run("SharedClientKey", func(t *testing.T) { testProcessSharedClientKey(t, bin) })
}

// The primary's process is killed with SIGKILL: operations still complete,
// `status` reports a higher view, and the restarted replica (same key and
// data directory) reaches the others' executed sequence number and state
// digest.
func testProcessPrimaryCrash(t *testing.T, bin string) {
	pc := startProcCluster(t, bin, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, s := range []struct {
		want string
		op   []string
	}{
		{"ok", []string{"put", "a", "1"}},
		{"1", []string{"get", "a"}},
		{"swapped", []string{"cas", "a", "1", "2"}},
		{"unchanged", []string{"cas", "a", "1", "3"}},
		{"2", []string{"get", "a"}},
		{"", []string{"get", "missing"}},
	} {
		pc.clientOp(ctx, s.want, s.op...)
	}
	cl := pc.dial(ctx, 8)
	checkedPuts(ctx, t, cl, "before", 0, 40)
	pc.waitStatus(ctx, "four replicas agreeing in view 0", 10*time.Second, func(sts []replicaStatus) bool {
		return converged(sts, 0, 1, 2, 3) && sts[0].View == 0 && sts[0].Primary == 0
	}, nil)

	crash := time.Now()
	pc.kill(0)
	t.Logf("SIGKILLed the primary, replica 0 (pid %d)", pc.procs[0].cmd.Process.Pid)
	checkedPuts(ctx, t, cl, "after", 0, 40)
	t.Logf("40 puts and gets completed %v after the crash", time.Since(crash).Round(time.Millisecond))
	pc.clientOp(ctx, "ok", "put", "b", "after-crash")
	pc.clientOp(ctx, "after-crash", "get", "b")
	pc.clientOp(ctx, "swapped", "cas", "a", "2", "4")
	sts := pc.waitStatus(ctx, "replicas 1-3 agreeing in a view above 0 without replica 0", 10*time.Second, func(sts []replicaStatus) bool {
		return !sts[0].Reachable && converged(sts, 1, 2, 3) && sts[1].View > 0
	}, nil)
	t.Logf("status after the crash: view %d, primary %d, last executed %d", sts[1].View, sts[1].Primary, sts[1].LastExecuted)

	restart := time.Now()
	pc.start(0)
	poke := 0
	sts = pc.waitStatus(ctx, "the restarted replica at the others' sequence number and state digest", 30*time.Second,
		func(sts []replicaStatus) bool { return converged(sts, 0, 1, 2, 3) },
		func() { // new operations move the cluster on (checkpoints, Status exchange)
			checkedPuts(ctx, t, cl, fmt.Sprintf("poke-%d", poke), 0, 4)
			poke++
		})
	t.Logf("restarted replica 0 caught up in %v: view %d, last executed %d, state digest %s",
		time.Since(restart).Round(time.Millisecond), sts[0].View, sts[0].LastExecuted, sts[0].StateDigest[:16])
	pc.clientOp(ctx, "4", "get", "a")
	checkedPuts(ctx, t, cl, "restarted", 0, 20)
}

// One replica misbehaving on purpose at a time, a backup lying in its replies
// and an equivocating primary: every result the clients accept is correct,
// and the correct replicas end in agreement.
func testProcessFaults(t *testing.T, bin string) {
	for _, tc := range []struct {
		fault string
		id    int
	}{
		{"wrong-result", 1},
		{"equivocate", 0},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			pc := startProcCluster(t, bin, map[int][]string{tc.id: {"--fault", tc.fault}})
			ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
			defer cancel()
			for i := range 3 {
				v, w := fmt.Sprintf("v%d", i), fmt.Sprintf("w%d", i)
				pc.clientOp(ctx, "ok", "put", "k", v)
				pc.clientOp(ctx, v, "get", "k")
				pc.clientOp(ctx, "swapped", "cas", "k", v, w)
				pc.clientOp(ctx, "unchanged", "cas", "k", v, "x")
				pc.clientOp(ctx, w, "get", "k")
			}
			pc.clientOp(ctx, "ok", "del", "k")
			pc.clientOp(ctx, "", "get", "k")
			checkedPuts(ctx, t, pc.dial(ctx, 8), "k", 0, 40)
			correct := []int{0, 1, 2, 3}
			correct = append(correct[:tc.id], correct[tc.id+1:]...)
			sts := pc.waitStatus(ctx, "the correct replicas in agreement", 15*time.Second,
				func(sts []replicaStatus) bool { return converged(sts, correct...) }, nil)
			t.Logf("correct replicas: view %d, last executed %d", sts[correct[0]].View, sts[correct[0]].LastExecuted)
		})
	}
}

// corruptSigner signs like its key and then flips a bit of the signature:
// a client whose requests carry forged signatures over its own
// authenticated connection.
type corruptSigner struct{ *crypto.PrivateKey }

func (s corruptSigner) Sign(msg []byte) []byte {
	sig := s.PrivateKey.Sign(msg)
	sig[0] ^= 1
	return sig
}

// Bad input against real replica processes: a frame over the size limit,
// garbage bytes, a peer that is not in the cluster speaking the replica
// protocol, and requests with bad client signatures are dropped and counted
// (each replica's --metrics), and the replicas keep serving, in view 0.
// network/network_test.go shows the same for the first three on in-process
// hosts; here the replica is the real binary.
func testProcessBadInput(t *testing.T, bin string) {
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	extra := make(map[int][]string, 4)
	urls := make([]string, 4)
	for i, p := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		extra[i] = []string{"--metrics", addr}
		urls[i] = "http://" + addr + "/metrics"
	}
	pc := startProcCluster(t, bin, extra)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	httpClient := &http.Client{Timeout: 2 * time.Second}
	defer httpClient.CloseIdleConnections()
	metric := func(id int, name, reason string) float64 {
		re := regexp.MustCompile(`(?m)^` + name + `\{reason="` + regexp.QuoteMeta(reason) + `",replica="` + strconv.Itoa(id) + `"\} (\S+)$`)
		body := testnet.Scrape(httpClient, urls[id])
		m := re.FindStringSubmatch(body)
		if m == nil {
			return -1
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return -1
		}
		return v
	}
	waitMetric := func(id int, name, reason string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for metric(id, name, reason) < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d: %s{reason=%q} never counted a drop:\n%s", id, name, reason, testnet.Scrape(httpClient, urls[id]))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	pc.clientOp(ctx, "ok", "put", "k", "v0")

	// Raw frames from a stranger: a peer id no cluster file lists.
	h := rawHost(t)
	target := peer.AddrInfo{ID: pc.c.Peers[0].PeerID, Addrs: pc.c.Peers[0].Addrs}
	if err := h.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], network.DefaultMaxFrameSize+1)
	for _, bad := range []struct {
		proto  protocol.ID
		frame  []byte
		reason network.DropReason
	}{
		{network.ClientProtocol, hdr[:], network.DropFrameTooLarge},                                             // only the header is sent
		{network.ClientProtocol, []byte{0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, network.DropMalformed}, // garbage
		{network.ReplicaProtocol, []byte{0, 0, 0, 0}, network.DropUnknownPeer},                                  // not a replica
	} {
		if err := writeAndExpectReset(ctx, h, target.ID, bad.proto, bad.frame); err != nil {
			t.Fatalf("%s on %s: %v", bad.reason, bad.proto, err)
		}
		waitMetric(0, "bulwark_network_messages_dropped_total", string(bad.reason))
	}
	pc.clientOp(ctx, "v0", "get", "k")

	// Requests with forged signatures from their client's own connection:
	// the primary refuses to order them, the backups drop them before they
	// would suspect the primary, the client gets no result, and nothing
	// changes.
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	fhost, err := network.NewClientHost(fctx, key, pc.c.Peers, network.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer fhost.Close()
	forger, err := driver.StartClient(fctx, driver.ClientConfig{
		ClusterID: pc.c.File.ClusterID, Replicas: pc.c.N(), Signer: corruptSigner{key}, Transport: fhost,
		Sessions: 2, TickInterval: pc.c.Tick(), RetransmitTicks: uint64(max(1, 500/pc.c.File.Protocol.TickMS)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Long enough for the backups' view-change timer (2 s) to fire on it.
	viewChange := time.Duration(pc.c.File.Protocol.ViewChangeTicks) * pc.c.Tick()
	dctx, dcancel := context.WithTimeout(fctx, 2*viewChange+time.Second)
	var forged sync.WaitGroup
	for _, v := range []string{"forged-1", "forged-2"} {
		forged.Go(func() {
			if res, err := forger.Do(dctx, kv.EncodePut([]byte("k"), []byte(v)), false); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("request with a forged signature: result %+v, %v; want no result", res, err)
			}
		})
	}
	cl := pc.dial(ctx, 4)
	checkedPuts(ctx, t, cl, "during", 0, 20) // served meanwhile
	forged.Wait()
	dcancel()
	for id := range 4 {
		waitMetric(id, "bulwark_messages_dropped_total", "bad signature")
	}
	fcancel()
	pc.clientOp(ctx, "v0", "get", "k")
	checkedPuts(ctx, t, cl, "after", 0, 20)
	sts := pc.waitStatus(ctx, "four replicas agreeing, still in view 0", 10*time.Second, func(sts []replicaStatus) bool {
		return converged(sts, 0, 1, 2, 3)
	}, nil)
	if sts[0].View != 0 {
		t.Fatalf("forged requests caused a view change: %+v", sts)
	}
	for id := range 4 {
		t.Logf("replica %d dropped: %v bad signatures; network: %v frame_too_large, %v malformed, %v unknown_peer", id,
			metric(id, "bulwark_messages_dropped_total", "bad signature"),
			metric(id, "bulwark_network_messages_dropped_total", string(network.DropFrameTooLarge)),
			metric(id, "bulwark_network_messages_dropped_total", string(network.DropMalformed)),
			metric(id, "bulwark_network_messages_dropped_total", string(network.DropUnknownPeer)))
	}
}

// rawHost is a libp2p host with a fresh ed25519 identity that no cluster
// file lists, for writing bytes the transport itself would never send.
func rawHost(t *testing.T) host.Host {
	t.Helper()
	sk, _, err := p2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// writeAndExpectReset opens a stream, writes frame and waits until the
// replica resets the stream.
func writeAndExpectReset(ctx context.Context, h host.Host, to peer.ID, proto protocol.ID, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, to, proto)
	if err != nil {
		return err
	}
	defer s.Reset()
	if _, err := s.Write(frame); err != nil {
		return err
	}
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if n, err := s.Read(b[:]); err == nil || strings.Contains(err.Error(), "deadline") {
		return fmt.Errorf("stream still open after the bad frame (read %d, %v)", n, err)
	}
	return nil
}

// A replica process's resident memory: idle after startup and a few
// operations, and at its peak while serving a sustained load from many
// concurrent client sessions, long enough for the key space to fill and
// memory to level off (without the replica's default memory limit it
// settled at 330-360 MiB here after about 25 s).
func testProcessMemory(t *testing.T, bin string) {
	const (
		idleLimit = 100 << 20
		loadLimit = 300 << 20
		clients   = 8
		sessions  = 128 // per client: 1,024 operations outstanding in all
		load      = 25 * time.Second
	)
	pc := startProcCluster(t, bin, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range 5 {
		pc.clientOp(ctx, "ok", "put", fmt.Sprintf("k%d", i), "v")
	}
	pc.waitStatus(ctx, "four replicas in agreement", 10*time.Second,
		func(sts []replicaStatus) bool { return converged(sts, 0, 1, 2, 3) }, nil)
	time.Sleep(time.Second) // idle
	sample := func() []memory {
		t.Helper()
		ms := make([]memory, len(pc.procs))
		for id, p := range pc.procs {
			m, err := memoryOf(p.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			ms[id] = m
		}
		return ms
	}
	for id, m := range sample() {
		t.Logf("replica %d idle: %v", id, m)
		if m.rss >= idleLimit {
			t.Errorf("replica %d idles at %v, want VmRSS under %d MiB", id, m, idleLimit>>20)
		}
	}

	wl, err := startPuts(ctx, pc.c, clients, sessions)
	if err != nil {
		t.Fatal(err)
	}
	defer wl.stop()
	start := time.Now()
	nextLog := start.Add(5 * time.Second)
	for time.Since(start) < load {
		time.Sleep(200 * time.Millisecond)
		if ms := sample(); time.Now().After(nextLog) {
			nextLog = nextLog.Add(5 * time.Second)
			ops := wl.done.Load()
			t.Logf("after %v, %d puts: VmRSS %.0f, %.0f, %.0f, %.0f MiB", time.Since(start).Round(time.Second), ops,
				mib(ms[0].rss), mib(ms[1].rss), mib(ms[2].rss), mib(ms[3].rss))
		}
	}
	if err := wl.stop(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if wl.done.Load() == 0 {
		t.Fatal("no operation completed under load")
	}
	t.Logf("load: %d clients x %d sessions, %d puts in %v (%.0f ops/s)", clients, sessions, wl.done.Load(),
		elapsed.Round(time.Millisecond), float64(wl.done.Load())/elapsed.Seconds())
	for id, m := range sample() {
		t.Logf("replica %d after the load: %v (VmHWM: the peak)", id, m)
		if m.hwm >= loadLimit {
			t.Errorf("replica %d peaked at VmHWM %.1f MiB under load, want under %d MiB", id, mib(m.hwm), loadLimit>>20)
		}
	}
}
