package pbft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// testCluster is n replicas whose messages wait in a list until a test
// delivers, drops or inspects them: every protocol rule can be driven by hand.
type testCluster struct {
	t       *testing.T
	reps    []*Replica
	signers []crypto.Signer
	client  crypto.Signer
	scheme  *cryptotest.Scheme
	pending []sent
	replies []*wire.Reply
	nextTS  uint64
}

type sent struct {
	from, to int
	msg      *wire.Message
}

func newTestCluster(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	scheme := cryptotest.NewScheme(7)
	c := &testCluster{t: t, client: scheme.NewSigner("client"), scheme: scheme, nextTS: 1}
	pubs := make([]crypto.PublicKey, n)
	for i := range n {
		c.signers = append(c.signers, scheme.NewSigner(fmt.Sprintf("replica-%d", i)))
		pubs[i] = c.signers[i].PublicKey()
	}
	for i := range n {
		cfg := Config{ClusterID: "test", ID: uint32(i), Replicas: pubs, Signer: c.signers[i],
			Verifier: scheme, Service: kv.New(), CheckpointInterval: 4, MaxBatchSize: 1, MaxInflightBatches: 8}
		if tune != nil {
			tune(&cfg)
		}
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.reps = append(c.reps, r)
	}
	return c
}

// request builds the next signed client request.
func (c *testCluster) request(op []byte) *wire.Request {
	req := &wire.Request{ClientKey: c.client.PublicKey(), Session: 0, Timestamp: c.nextTS, Operation: op}
	c.nextTS++
	SignRequest(c.client, "test", req)
	return req
}

func msgOf(req *wire.Request) *wire.Message {
	return &wire.Message{Content: &wire.Message_Request{Request: req}}
}

// fromClient hands req to replica i over the client's own connection.
func (c *testCluster) fromClient(i int, req *wire.Request) error {
	err := c.reps[i].Step(FromClient(req.GetClientKey()), msgOf(req))
	c.collect(i)
	return err
}

// step delivers m to replica to as if sent by replica from.
func (c *testCluster) step(from, to int, m *wire.Message) error {
	err := c.reps[to].Step(FromReplica(uint32(from)), m)
	c.collect(to)
	return err
}

// collect moves replica i's outbound messages into the pending list.
func (c *testCluster) collect(i int) {
	rd := c.reps[i].Ready()
	for _, env := range rd.Messages {
		switch env.To {
		case Broadcast:
			for j := range c.reps {
				if j != i {
					c.pending = append(c.pending, sent{i, j, env.Msg})
				}
			}
		case ToClient:
			c.replies = append(c.replies, env.Msg.GetReply())
		default:
			c.pending = append(c.pending, sent{i, env.To, env.Msg})
		}
	}
}

// deliver delivers pending messages until none is left, dropping those for
// which drop returns true. It fails the test if a correct replica rejects a
// message a correct replica sent, unless the message arrived after the
// receiver's window moved past it, which is normal.
func (c *testCluster) deliver(drop func(s sent) bool) {
	for len(c.pending) > 0 {
		s := c.pending[0]
		c.pending = c.pending[1:]
		if drop != nil && drop(s) {
			continue
		}
		if err := c.step(s.from, s.to, s.msg); err != nil && !errors.Is(err, ErrOutsideWindow) {
			c.t.Fatalf("%d -> %d %T rejected: %v", s.from, s.to, s.msg.Content, err)
		}
	}
}

func kindOf(m *wire.Message) string { return fmt.Sprintf("%T", m.Content) }

func isKind(s sent, example any) bool { return kindOf(s.msg) == fmt.Sprintf("%T", example) }

// take removes and returns the pending messages of a kind.
func (c *testCluster) take(example any) []sent {
	var out, rest []sent
	for _, s := range c.pending {
		if isKind(s, example) {
			out = append(out, s)
		} else {
			rest = append(rest, s)
		}
	}
	c.pending = rest
	return out
}

// prePrepareFor has the primary propose req and returns its pre-prepare.
func (c *testCluster) prePrepareFor(req *wire.Request) *wire.PrePrepare {
	c.t.Helper()
	if err := c.fromClient(0, req); err != nil {
		c.t.Fatal(err)
	}
	pps := c.take(&wire.Message_PrePrepare{})
	if len(pps) == 0 {
		c.t.Fatal("the primary proposed nothing")
	}
	return pps[0].msg.GetPrePrepare()
}

func ppMsg(pp *wire.PrePrepare) *wire.Message {
	return &wire.Message{Content: &wire.Message_PrePrepare{PrePrepare: pp}}
}

// signedPrepare is replica id's prepare for (view, seq, d).
func (c *testCluster) signedPrepare(id int, view, seq uint64, d []byte) *wire.Message {
	p := &wire.Prepare{View: view, Sequence: seq, Digest: d, Replica: uint32(id)}
	if err := SignPrepare(c.signers[id], "test", p); err != nil {
		c.t.Fatal(err)
	}
	return &wire.Message{Content: &wire.Message_Prepare{Prepare: p}}
}

func (c *testCluster) signedCommit(id int, view, seq uint64, d []byte) *wire.Message {
	m := &wire.Commit{View: view, Sequence: seq, Digest: d, Replica: uint32(id)}
	if err := SignCommit(c.signers[id], "test", m); err != nil {
		c.t.Fatal(err)
	}
	return &wire.Message{Content: &wire.Message_Commit{Commit: m}}
}

// sentCommit reports whether replica id has a commit of its own pending.
func (c *testCluster) sentCommit(id int) bool {
	for _, s := range c.pending {
		if s.from == id && isKind(s, &wire.Message_Commit{}) {
			return true
		}
	}
	return false
}
