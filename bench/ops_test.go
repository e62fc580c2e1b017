package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

func mixConfig(service string, reads float64) Config {
	cfg := DefaultConfig()
	cfg.Service, cfg.Reads, cfg.Seed = service, reads, 42
	return cfg
}

// drawOps is n operations of client index: their kinds and data.
func drawOps(cfg Config, index uint64, n int) ([]OpKind, [][]byte) {
	src := newOpSource(cfg, index)
	kinds, data := make([]OpKind, n), make([][]byte, n)
	for i := range n {
		op := src.next()
		kinds[i], data[i] = op.kind, op.data
	}
	return kinds, data
}

func TestOpMixRespectsTheReadFraction(t *testing.T) {
	const n = 20_000
	for _, service := range []string{"kv", "null"} {
		for _, reads := range []float64{0, 0.1, 0.5, 0.9, 1} {
			kinds, data := drawOps(mixConfig(service, reads), 3, n)
			got := 0.0
			for _, k := range kinds {
				if k == OpRead {
					got++
				}
			}
			got /= n
			// 0.02 is more than six standard deviations at any fraction.
			if got < reads-0.02 || got > reads+0.02 || (reads == 0 && got != 0) || (reads == 1 && got != 1) {
				t.Errorf("%s, reads %v: %.4f of %d operations were reads", service, reads, got, n)
			}
			for i, k := range kinds {
				if !wellFormed(service, k, data[i]) {
					t.Fatalf("%s, reads %v: operation %d (%v) is %q", service, reads, i, k, data[i])
				}
			}
		}
	}
}

// wellFormed says whether op is an operation of kind k of service: a null
// read is nullReadOp, a kv one a get, both kv kinds of a key of the key
// space.
func wellFormed(service string, k OpKind, op []byte) bool {
	if service == "null" {
		return (k == OpRead) == bytes.Equal(op, nullReadOp)
	}
	o, err := kv.DecodeOp(op)
	var key int
	if _, kerr := fmt.Sscanf(string(o.Key), "k%d", &key); err != nil || kerr != nil || key < 0 || key >= DefaultConfig().Keys {
		return false
	}
	return (k == OpRead) == (o.Kind == kv.OpGet)
}

func TestOpMixIsDeterministicBySeed(t *testing.T) {
	cfg := mixConfig("kv", 0.5)
	k1, d1 := drawOps(cfg, 5, 1000)
	k2, d2 := drawOps(cfg, 5, 1000)
	if !slices.Equal(k1, k2) || !slices.EqualFunc(d1, d2, bytes.Equal) {
		t.Fatal("the same seed and client drew different operations")
	}
	k3, _ := drawOps(cfg, 6, 1000)
	cfg.Seed++
	k4, _ := drawOps(cfg, 5, 1000)
	if slices.Equal(k1, k3) || slices.Equal(k1, k4) {
		t.Fatal("another client or seed drew the same mix")
	}
}

// TestOpMixWithoutReadsIsTheWriteWorkload checks that a run without reads
// draws what the workload drew before reads existed: the payload, then one
// key per put.
func TestOpMixWithoutReadsIsTheWriteWorkload(t *testing.T) {
	cfg := mixConfig("kv", 0)
	_, got := drawOps(cfg, 9, 100)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 9))
	payload := make([]byte, cfg.Payload)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	for i, op := range got {
		want := kv.EncodePut(fmt.Appendf(nil, "k%d", rng.IntN(cfg.Keys)), payload)
		if !bytes.Equal(op, want) {
			t.Fatalf("operation %d differs from the write workload's", i)
		}
	}
}

func TestReadChecks(t *testing.T) {
	count := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	src := newOpSource(mixConfig("null", 1), 0)
	for i, c := range []struct {
		res []byte
		ok  bool
	}{
		{count(10), true},
		{nullReadOp, true}, // fell back to ordering
		{count(10), true},
		{count(12), true},
		{count(11), false}, // went down
		{count(12), true},
		{src.payload, false},
		{count(12)[:7], false},
		{nil, false},
	} {
		if err := src.checkNullRead(c.res); (err == nil) != c.ok {
			t.Errorf("null read %d (%x): error %v, want ok = %v", i, c.res, err, c.ok)
		}
	}

	for _, c := range []struct {
		res []byte
		ok  bool
	}{
		{kv.EncodeResult(kv.Result{Status: kv.StatusOK, Value: []byte("v")}), true},
		{kv.EncodeResult(kv.Result{Status: kv.StatusNotFound}), true},
		{kv.EncodeResult(kv.Result{Status: kv.StatusError, Err: "malformed"}), false},
		{kv.EncodeResult(kv.Result{Status: kv.StatusSwapped}), false},
		{[]byte{0xff}, false},
	} {
		if err := checkKVGet(c.res); (err == nil) != c.ok {
			t.Errorf("kv get %x: error %v, want ok = %v", c.res, err, c.ok)
		}
	}
}

// calls is a sender that notes which call each operation went through.
type calls []string

func (c *calls) Do(_ context.Context, op []byte) (client.Result, error) {
	*c = append(*c, "Do "+string(op))
	return client.Result{}, nil
}

func (c *calls) Read(_ context.Context, op []byte) (client.Result, error) {
	*c = append(*c, "Read "+string(op))
	return client.Result{}, nil
}

func TestOperationSend(t *testing.T) {
	var c calls
	for _, op := range []operation{{kind: OpRead, data: []byte("r")}, {kind: OpWrite, data: []byte("w")}} {
		if _, err := op.send(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"Read r", "Do w"}; !slices.Equal(c, want) {
		t.Fatalf("calls %q, want %q", c, want)
	}
}
