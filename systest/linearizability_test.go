package systest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"go.uber.org/goleak"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// Linearizability of the replicated key-value store, checked with porcupine
// over histories of real client operations: each operation's call and
// return times (one monotonic clock) and its result. An operation whose
// outcome is unknown (it timed out or the test stopped it; the request may
// still be ordered later) returns at infinity and matches any output, so it
// may take effect at any point after its call, or never. A get with an
// unknown outcome changes nothing and is left out.

type kvKind uint8

const (
	kvPut kvKind = iota + 1
	kvGet
	kvDel
	kvCAS
)

// kvInput is one operation. Values are never empty: the kv service's cas
// reads an empty old value as "the key is absent".
type kvInput struct {
	kind     kvKind
	key      string
	value    string // put, cas: the new value
	old      string // cas: the expected value, "" for absent
	readOnly bool   // get: sent on the read-only path (2f+1 matching replies, else ordered)
}

// kvOutput is an operation's result.
type kvOutput struct {
	unknown bool
	status  kv.Status
	present bool   // get: found; cas unchanged: the key held a value
	value   string // get: the value; cas unchanged: the current value
}

// kvState is one key's value (the model is partitioned by key).
type kvState struct {
	present bool
	value   string
}

func (in kvInput) op() []byte {
	switch in.kind {
	case kvPut:
		return kv.EncodePut([]byte(in.key), []byte(in.value))
	case kvGet:
		return kv.EncodeGet([]byte(in.key))
	case kvDel:
		return kv.EncodeDelete([]byte(in.key))
	}
	return kv.EncodeCAS([]byte(in.key), []byte(in.old), []byte(in.value))
}

func (in kvInput) String() string {
	switch in.kind {
	case kvPut:
		return fmt.Sprintf("put(%s, %s)", in.key, in.value)
	case kvGet:
		if in.readOnly {
			return fmt.Sprintf("get(%s) read-only", in.key)
		}
		return fmt.Sprintf("get(%s)", in.key)
	case kvDel:
		return fmt.Sprintf("del(%s)", in.key)
	}
	return fmt.Sprintf("cas(%s, %q, %s)", in.key, in.old, in.value)
}

func (out kvOutput) String() string {
	switch {
	case out.unknown:
		return "?"
	case out.status == kv.StatusOK && out.present:
		return out.value
	case out.status == kv.StatusUnchanged && out.present:
		return "unchanged, is " + out.value
	case out.status == kv.StatusUnchanged:
		return "unchanged, absent"
	}
	return out.status.String()
}

// kvModel is the key-value service's sequential specification, one
// partition per key.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		switch in.kind {
		case kvPut:
			return out.unknown || out.status == kv.StatusOK, kvState{present: true, value: in.value}
		case kvDel:
			return out.unknown || out.status == kv.StatusOK, kvState{}
		case kvGet:
			if out.unknown {
				return true, st
			}
			if st.present {
				return out.status == kv.StatusOK && out.present && out.value == st.value, st
			}
			return out.status == kv.StatusNotFound, st
		case kvCAS:
			match := in.old == "" && !st.present || st.present && in.old == st.value
			next := st
			if match {
				next = kvState{present: true, value: in.value}
			}
			if out.unknown {
				return true, next
			}
			if match {
				return out.status == kv.StatusSwapped, next
			}
			return out.status == kv.StatusUnchanged && out.present == st.present && out.value == st.value, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%v -> %v", input.(kvInput), output.(kvOutput))
	},
	DescribeState: func(state any) string {
		if st := state.(kvState); st.present {
			return st.value
		}
		return "(absent)"
	},
}

// kvHistory records operations from many goroutines.
type kvHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	// clients hands out porcupine client ids: one per worker, and a fresh
	// one after an operation of unknown outcome (it stays pending forever).
	clients int
	// counts
	kinds              map[kvKind]int
	readOnly, unknowns int
	errs               []error
}

func newKVHistory() *kvHistory {
	return &kvHistory{start: time.Now(), kinds: make(map[kvKind]int)}
}

func (h *kvHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *kvHistory) newClient() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients++
	return h.clients - 1
}

// kvClient is a client that runs an operation until enough replicas agree:
// a bulwark.Client, or a driver.Client in-process (driverKV).
type kvClient interface {
	Do(ctx context.Context, op []byte) (client.Result, error)
	Read(ctx context.Context, op []byte) (client.Result, error)
}

// do runs in through cl and records it; it returns the output.
func (h *kvHistory) do(ctx context.Context, cl kvClient, clientID int, in kvInput, timeout time.Duration) kvOutput {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	call := h.now()
	run := cl.Do
	if in.readOnly {
		run = cl.Read
	}
	res, err := run(octx, in.op())
	ret := h.now()
	out := kvOutput{unknown: err != nil}
	if err == nil {
		r, derr := kv.DecodeResult(res.Result)
		if derr != nil || r.Status == kv.StatusError {
			h.fail(fmt.Errorf("%v: result %+v, %v", in, r, derr))
		}
		out.status, out.present, out.value = r.Status, r.Value != nil, string(r.Value)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.unknown {
		h.unknowns++
		if in.kind == kvGet {
			return out
		}
		ret = math.MaxInt64
	}
	h.kinds[in.kind]++
	if in.readOnly {
		h.readOnly++
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: clientID, Input: in, Call: call, Output: out, Return: ret})
	return out
}

func (h *kvHistory) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
}

// kvWorker issues random operations on keys lin-0 ... lin-(keys-1) one after
// another until ctx ends: puts and compare-and-swaps of fresh values, gets
// (mostly read-only) and deletes. pause bounds a random think time between
// operations.
func (h *kvHistory) kvWorker(ctx context.Context, cl kvClient, worker, keys int, seed uint64, timeout, pause time.Duration) {
	rng := rand.New(rand.NewPCG(seed, uint64(worker)))
	clientID := h.newClient()
	seen := make(map[string]string) // the last value this worker saw per key
	for n := 0; ctx.Err() == nil; n++ {
		in := kvInput{key: fmt.Sprintf("lin-%d", rng.IntN(keys)), value: fmt.Sprintf("w%d.%d", worker, n)}
		switch r := rng.IntN(20); {
		case r < 6:
			in.kind = kvPut
		case r < 14:
			in.kind, in.value, in.readOnly = kvGet, "", r < 12
		case r < 15:
			in.kind, in.value = kvDel, ""
		default:
			in.kind, in.old = kvCAS, seen[in.key]
			if rng.IntN(4) == 0 {
				in.old = fmt.Sprintf("w%d.%d", rng.IntN(8), rng.IntN(n+1)) // most likely stale
			}
		}
		out := h.do(ctx, cl, clientID, in, timeout)
		switch {
		case out.unknown:
			clientID = h.newClient()
		case in.kind == kvPut || in.kind == kvCAS && out.status == kv.StatusSwapped:
			seen[in.key] = in.value
		case in.kind == kvDel:
			seen[in.key] = ""
		case in.kind == kvGet || in.kind == kvCAS:
			seen[in.key] = out.value
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(rand.N(pause)):
			}
		}
	}
}

// finalReads reads every key once more (ordered) into the history, once the
// load has stopped: the values every replica ends with must fit it too.
func (h *kvHistory) finalReads(ctx context.Context, t *testing.T, cl kvClient, keys int, timeout time.Duration) {
	t.Helper()
	clientID := h.newClient()
	for k := range keys {
		if out := h.do(ctx, cl, clientID, kvInput{kind: kvGet, key: fmt.Sprintf("lin-%d", k)}, timeout); out.unknown {
			t.Fatalf("final read of lin-%d got no result within %v", k, timeout)
		}
	}
}

// operations returns the history so far and fails the test on any result
// the service reported as an error.
func (h *kvHistory) operations(t *testing.T) []porcupine.Operation {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		t.Error(err)
	}
	return slices.Clone(h.ops)
}

// summary describes the history.
func (h *kvHistory) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("%d operations (%d puts, %d gets of which %d read-only, %d deletes, %d compare-and-swaps; %d of unknown outcome) from %d clients",
		len(h.ops), h.kinds[kvPut], h.kinds[kvGet], h.readOnly, h.kinds[kvDel], h.kinds[kvCAS], h.unknowns, h.clients)
}

// checkLinearizable checks the history with porcupine and, if it is not
// linearizable, saves porcupine's HTML visualisation (see artifactDir) and
// fails the test naming the file.
func checkLinearizable(t *testing.T, name string, ops []porcupine.Operation, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, timeout)
	t.Logf("porcupine: %s: %d operations: %s in %v", name, len(ops), res, time.Since(start).Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		t.Errorf("porcupine could not decide within %v whether the %d operations of %s are linearizable", timeout, len(ops), name)
		return
	}
	path := filepath.Join(artifactDir(t), fmt.Sprintf("%s-%s.html", strings.NewReplacer("/", "_", " ", "_").Replace(name), time.Now().Format("20060102-150405.000")))
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		t.Errorf("history of %s is not linearizable; its visualisation could not be saved: %v", name, err)
		return
	}
	t.Errorf("history of %s is not linearizable: porcupine's visualisation is %s", name, path)
}

// artifactDir is where failing tests leave files for a person to open:
// $BULWARK_ARTIFACTS, else bulwark-artifacts in the system's temporary
// directory (t.TempDir is removed when the test ends).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("BULWARK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bulwark-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifact directory %s: %v", dir, err)
	}
	return dir
}

// The checker has teeth: a stale read, a lost write, a compare-and-swap
// that swapped against the wrong value and a read of a value never written
// are rejected, and an unknown outcome may or may not have taken effect.
func TestKVModel(t *testing.T) {
	put := func(k, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: kvInput{kind: kvPut, key: k, value: v}, Output: kvOutput{status: kv.StatusOK}, Call: call, Return: ret}
	}
	lost := func(op porcupine.Operation) porcupine.Operation {
		op.Output, op.Return = kvOutput{unknown: true}, math.MaxInt64
		return op
	}
	get := func(k, v string, call, ret int64) porcupine.Operation {
		out := kvOutput{status: kv.StatusNotFound}
		if v != "" {
			out = kvOutput{status: kv.StatusOK, present: true, value: v}
		}
		return porcupine.Operation{ClientId: 1, Input: kvInput{kind: kvGet, key: k, readOnly: true}, Output: out, Call: call, Return: ret}
	}
	cas := func(k, old, v string, st kv.Status, cur string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: 2, Input: kvInput{kind: kvCAS, key: k, old: old, value: v},
			Output: kvOutput{status: st, present: cur != "", value: cur}, Call: call, Return: ret}
	}
	del := func(k string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: 3, Input: kvInput{kind: kvDel, key: k}, Output: kvOutput{status: kv.StatusOK}, Call: call, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"sequential", []porcupine.Operation{put("a", "1", 0, 1), get("a", "1", 2, 3), cas("a", "1", "2", kv.StatusSwapped, "", 4, 5),
			cas("a", "1", "3", kv.StatusUnchanged, "2", 6, 7), del("a", 8, 9), get("a", "", 10, 11), cas("a", "", "4", kv.StatusSwapped, "", 12, 13)}, true},
		{"concurrent read of either value", []porcupine.Operation{put("a", "1", 0, 1), put("a", "2", 2, 10), get("a", "1", 3, 4), get("a", "2", 5, 6)}, true},
		{"stale read", []porcupine.Operation{put("a", "1", 0, 1), put("a", "2", 2, 3), get("a", "1", 4, 5)}, false},
		{"read going back in time", []porcupine.Operation{put("a", "1", 0, 1), put("a", "2", 2, 20), get("a", "2", 3, 4), get("a", "1", 5, 6)}, false},
		{"lost write", []porcupine.Operation{put("a", "1", 0, 1), get("a", "", 2, 3)}, false},
		{"read of a value never written", []porcupine.Operation{put("a", "1", 0, 1), get("a", "9", 2, 3)}, false},
		{"swap against the wrong value", []porcupine.Operation{put("a", "1", 0, 1), cas("a", "7", "2", kv.StatusSwapped, "", 2, 3)}, false},
		{"unchanged reporting a stale value", []porcupine.Operation{put("a", "1", 0, 1), put("a", "2", 2, 3), cas("a", "7", "8", kv.StatusUnchanged, "1", 4, 5)}, false},
		{"deleted key read", []porcupine.Operation{put("a", "1", 0, 1), del("a", 2, 3), get("a", "1", 4, 5)}, false},
		{"unknown write that took effect", []porcupine.Operation{put("a", "1", 0, 1), lost(put("a", "2", 2, 3)), get("a", "2", 10, 11)}, true},
		{"unknown write that did not", []porcupine.Operation{put("a", "1", 0, 1), lost(put("a", "2", 2, 3)), get("a", "1", 10, 11)}, true},
		{"unknown write seen, then not", []porcupine.Operation{put("a", "1", 0, 1), lost(put("a", "2", 2, 3)), get("a", "2", 10, 11), get("a", "1", 12, 13)}, false},
		{"keys are independent", []porcupine.Operation{put("a", "1", 0, 1), put("b", "2", 0, 1), get("a", "1", 2, 3), get("b", "1", 2, 3)}, false},
	} {
		if got := porcupine.CheckOperations(kvModel, tc.ops); got != tc.ok {
			t.Errorf("%s: linearizable = %v, want %v", tc.name, got, tc.ok)
		}
	}

	// A rejected history is saved as porcupine's visualisation.
	t.Setenv("BULWARK_ARTIFACTS", t.TempDir())
	res, info := porcupine.CheckOperationsVerbose(kvModel, []porcupine.Operation{put("a", "1", 0, 1), put("a", "2", 2, 3), get("a", "1", 4, 5)}, time.Second)
	if res != porcupine.Illegal {
		t.Fatalf("stale read: %v", res)
	}
	path := filepath.Join(artifactDir(t), "stale-read.html")
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), "get(a) read-only") {
		t.Fatalf("visualisation %s: %v, %d bytes without the operation", path, err, len(b))
	}
}

// TestLinearizableUnderFaults runs one misbehaving replica process at a time
// (`replica --fault`) while workers put, get (mostly on the read-only path,
// which needs 2f+1 matching replies), delete and compare-and-swap a few
// contended keys, and checks the history with porcupine. Every replica
// records what it sends (--record-sent): the audit of what they signed must
// find the equivocating primary's conflicting pre-prepares, and nothing
// from a correct replica.
func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs replica processes")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBulwark(t, t.TempDir())
	for _, tc := range []struct {
		name, fault string
		n, id       int
		killPrimary bool
	}{
		{"wrong-result", "wrong-result", 4, 1, false}, // lies in every reply, read-only ones too
		{"stale-read", "stale-read", 4, 3, false},     // answers each read with its session's previous result
		{"silent", "silent", 4, 2, false},             // a read-only get needs all three others to agree
		{"equivocate", "equivocate", 4, 0, false},     // the primary: a view change follows
		// f = 2: a liar, and the primary SIGKILLed halfway. Reads and
		// writes then need all five other replicas but the liar, through
		// the view change.
		{"wrong-result+kill-primary", "wrong-result", 7, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testLinearizableUnderFault(t, bin, tc.fault, tc.n, tc.id, tc.killPrimary) })
	}
}

func testLinearizableUnderFault(t *testing.T, bin, fault string, n, faulty int, killPrimary bool) {
	const (
		workers, keys = 6, 3
		load          = 8 * time.Second
		opTimeout     = 15 * time.Second
	)
	sentLog := func(dir string, id int) string { return filepath.Join(dir, fmt.Sprintf("sent-%d.log", id)) }
	pc := startProcClusterOf(t, bin, n, bulwark.DefaultProtocol, func(dir string, id int) []string {
		flags := []string{"--record-sent", sentLog(dir, id)}
		if id == faulty {
			flags = append(flags, "--fault", fault)
		}
		return flags
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cl := pc.dial(ctx, 2*workers)
	hist := newKVHistory()
	lctx, stop := context.WithTimeout(ctx, load)
	defer stop()
	seed := uint64(time.Now().UnixNano())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { hist.kvWorker(lctx, cl, w, keys, seed, opTimeout, 5*time.Millisecond) })
	}
	if killPrimary {
		time.Sleep(load / 2)
		pc.kill(0)
		t.Log("replica 0, the primary, SIGKILLed")
	}
	wg.Wait()
	hist.finalReads(ctx, t, cl, keys, opTimeout)
	t.Logf("history: %s", hist.summary())
	sts := pc.status(ctx)
	t.Logf("replica %d (%s): view %d at the end, last executed %d", faulty, fault, sts[(faulty+1)%n].View, sts[(faulty+1)%n].LastExecuted)

	pc.cleanup()
	audit := auditSentLogs(t, pc, func(id int) string { return sentLog(filepath.Dir(pc.path), id) })
	for id := range n {
		want := id == faulty && fault == "equivocate"
		if got := audit.conflictsBy[uint32(id)]; (got > 0) != want {
			t.Errorf("replica %d: %d conflicting signed messages found; want them: %v", id, got, want)
		}
	}
	if audit.badSigs > 0 {
		t.Errorf("%d bad signatures", audit.badSigs)
	}
	for _, p := range audit.problems[:min(len(audit.problems), 3)] {
		t.Log(p)
	}
	checkLinearizable(t, "fault-"+fault, hist.operations(t), time.Minute)
}
