package driver

import (
	"fmt"
	"github.com/bulwark-bft/bulwark/pbft"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/byzantine"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Fault makes a replica misbehave on purpose, for tests, demos and
// benchmarks (`bulwark replica --fault NAME`). It acts at the send boundary:
// the replica's core stays honest and its messages are rewritten on the way
// out, signed with its own key only, as a real faulty replica could.
type Fault string

// The faults docs/design.md lists (section 5, "Threat model and bounds").
const (
	FaultNone         Fault = ""
	FaultSilent       Fault = "silent"        // sends nothing
	FaultEquivocate   Fault = "equivocate"    // as primary, a different batch to every other backup
	FaultBadSignature Fault = "bad-signature" // corrupts the signature of every signed message
	FaultWrongResult  Fault = "wrong-result"  // replies to clients with a wrong result
	FaultSlow         Fault = "slow"          // as primary, delays each pre-prepare to just under the timeout
)

// ParseFault checks a fault name.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultNone, FaultSilent, FaultEquivocate, FaultBadSignature, FaultWrongResult, FaultSlow:
		return f, nil
	}
	return "", fmt.Errorf("fault %q is not one of silent, equivocate, bad-signature, wrong-result, slow", s)
}

// FaultyTransport wraps a replica's Transport with a Fault.
type FaultyTransport struct {
	pbft.Transport
	fault   Fault
	signer  crypto.Signer
	cluster string
	delay   time.Duration

	mu   sync.Mutex
	alts map[uint64]*wire.Message // equivocate: the other batch, by sequence number
}

// WithFault returns t itself for FaultNone. delay is how long a slow primary
// holds each pre-prepare.
func WithFault(t pbft.Transport, f Fault, signer crypto.Signer, cluster string, delay time.Duration) pbft.Transport {
	if f == FaultNone {
		return t
	}
	return &FaultyTransport{Transport: t, fault: f, signer: signer, cluster: cluster, delay: delay,
		alts: make(map[uint64]*wire.Message)}
}

// Send rewrites or drops m according to the fault.
func (t *FaultyTransport) Send(id uint32, m *wire.Message) {
	switch t.fault {
	case FaultSilent:
		return
	case FaultBadSignature:
		m = byzantine.CorruptSignature(m)
	case FaultEquivocate:
		if id%2 == 1 {
			m = t.equivocation(m)
		}
	case FaultSlow:
		if m.GetPrePrepare() != nil {
			time.AfterFunc(t.delay, func() { t.Transport.Send(id, m) })
			return
		}
	}
	t.Transport.Send(id, m)
}

// SendClient rewrites replies for wrong-result and drops them when silent.
func (t *FaultyTransport) SendClient(key string, m *wire.Message) {
	switch t.fault {
	case FaultSilent:
		return
	case FaultWrongResult:
		if m.GetReply() != nil {
			m = proto.Clone(m).(*wire.Message)
			m.GetReply().Result = []byte("wrong")
		}
	}
	t.Transport.SendClient(key, m)
}

// equivocation is the other, validly signed batch for the pre-prepare's
// sequence number: the same one minus its last request.
func (t *FaultyTransport) equivocation(m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if alt, ok := t.alts[pp.GetSequence()]; ok && alt.GetPrePrepare().GetView() == pp.GetView() {
		return alt
	}
	alt := byzantine.OtherBatch(t.signer, t.cluster, pp)
	msg := &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: alt}}
	if len(t.alts) > 1024 {
		clear(t.alts) // bounded: only recent sequence numbers matter
	}
	t.alts[pp.GetSequence()] = msg
	return msg
}
