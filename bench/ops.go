package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// OpKind is what an operation of the workload is, so that a run mixing
// reads and writes reports each apart.
type OpKind uint8

const (
	// OpWrite is an ordered operation (Client.Do).
	OpWrite OpKind = iota
	// OpRead is a linearizable read (Client.Read).
	OpRead
	opKinds = iota
)

// nullReadOp is what a null read sends. Query ignores it, but a read that
// falls back to ordering is applied, and the null service echoes it: being
// shorter than the 8 bytes Query answers, it tells the two answers apart.
var nullReadOp = []byte("read")

// operation is one operation of a closed-loop client and how to check its
// result.
type operation struct {
	kind  OpKind
	data  []byte
	check func(result []byte) error
}

// sender is what an operation needs of a client (a *bulwark.Client).
type sender interface {
	Do(ctx context.Context, op []byte) (client.Result, error)
	Read(ctx context.Context, op []byte) (client.Result, error)
}

// send runs the operation on cl: a read as a linearizable read, which the
// replicas answer without ordering it, a write ordered.
func (op operation) send(ctx context.Context, cl sender) (client.Result, error) {
	if op.kind == OpRead {
		return cl.Read(ctx, op.data)
	}
	return cl.Do(ctx, op.data)
}

// opSource makes one closed-loop client's operations from the run's seed
// and the client's index, so a run's workload is reproducible.
type opSource struct {
	cfg     Config
	rng     *rand.Rand
	payload []byte
	// applied is the highest applied-op count a null read answered this
	// client from executed state.
	applied uint64
}

func newOpSource(cfg Config, index uint64) *opSource {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), index))
	payload := make([]byte, cfg.Payload)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	return &opSource{cfg: cfg, rng: rng, payload: payload}
}

// next is the client's next operation: a read with probability cfg.Reads,
// else a write. Without reads nothing is drawn for the choice, so such a
// run sends exactly the operations it sent before reads existed.
func (s *opSource) next() operation {
	read := s.cfg.Reads > 0 && s.rng.Float64() < s.cfg.Reads
	if s.cfg.Service == "null" {
		if read {
			return operation{OpRead, nullReadOp, s.checkNullRead}
		}
		return operation{OpWrite, s.payload, s.checkEcho}
	}
	key := fmt.Appendf(nil, "k%d", s.rng.IntN(s.cfg.Keys))
	if read {
		return operation{OpRead, kv.EncodeGet(key), checkKVGet}
	}
	return operation{OpWrite, kv.EncodePut(key, s.payload), checkKVPut}
}

// checkEcho checks a null write: the service echoes the operation.
func (s *opSource) checkEcho(res []byte) error {
	if !bytes.Equal(res, s.payload) {
		return fmt.Errorf("null service: result of %d bytes is not the operation echoed", len(res))
	}
	return nil
}

// checkNullRead checks a null read. Answered from executed state, it is the
// replicas' applied-op count (8 bytes), which may not go down from one read
// of a client to the next: the 2f+1 replicas that agree on the later answer
// include a correct one of those that gave the earlier. A read that fell
// back to ordering was applied instead, and is echoed.
func (s *opSource) checkNullRead(res []byte) error {
	if bytes.Equal(res, nullReadOp) {
		return nil
	}
	if len(res) != 8 {
		return fmt.Errorf("null read: result of %d bytes is neither an applied-op count nor the read echoed", len(res))
	}
	n := binary.BigEndian.Uint64(res)
	if n < s.applied {
		return fmt.Errorf("null read: %d ops applied, fewer than the %d an earlier read of this client saw", n, s.applied)
	}
	s.applied = n
	return nil
}

// checkKVPut checks a kv put: it answers ok.
func checkKVPut(res []byte) error {
	r, err := kv.DecodeResult(res)
	if err != nil {
		return fmt.Errorf("kv put: %w", err)
	}
	if r.Status != kv.StatusOK {
		return fmt.Errorf("kv put: result %v", r.Status)
	}
	return nil
}

// checkKVGet checks a kv get: the key was put before, or not yet.
func checkKVGet(res []byte) error {
	r, err := kv.DecodeResult(res)
	if err != nil {
		return fmt.Errorf("kv get: %w", err)
	}
	if r.Status != kv.StatusOK && r.Status != kv.StatusNotFound {
		return fmt.Errorf("kv get: result %v", r.Status)
	}
	return nil
}
