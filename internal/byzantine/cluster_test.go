package byzantine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

const cluster = "byzantine-test"

// testCluster is four honest cores, so that the tests check rewritten
// messages the way correct replicas check them: by stepping them.
type testCluster struct {
	scheme  *cryptotest.Scheme
	signers []crypto.Signer
	client  crypto.Signer
	cores   []*pbft.Replica
	ts      uint64
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{scheme: cryptotest.NewScheme(1)}
	pubs := make([]crypto.PublicKey, 4)
	for i := range pubs {
		c.signers = append(c.signers, c.scheme.NewSigner(fmt.Sprintf("replica-%d", i)))
		pubs[i] = c.signers[i].PublicKey()
	}
	c.client = c.scheme.NewSigner("client")
	for i := range pubs {
		r, err := pbft.New(pbft.Config{ClusterID: cluster, ID: uint32(i), Replicas: pubs, Signer: c.signers[i],
			Verifier: c.scheme, Service: kv.New(), MaxInflightBatches: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.cores = append(c.cores, r)
	}
	return c
}

// decorator is replica id's Decorator of kind k.
func (c *testCluster) decorator(k Kind, id int) *Decorator {
	return New(Config{Kind: k, Self: id, Replicas: len(c.cores), Signer: c.signers[id], Cluster: cluster,
		Rand: rand.New(rand.NewPCG(1, 2))})
}

func (c *testCluster) request() *wire.Message {
	c.ts++
	r := &wire.Request{ClientKey: c.client.PublicKey(), Session: c.ts, Timestamp: 1,
		Operation: kv.EncodePut([]byte("k"), fmt.Appendf(nil, "v%d", c.ts))}
	pbft.SignRequest(c.client, cluster, r)
	return &wire.Message{Content: &wire.Message_Request{Request: r}}
}

// step gives core to m from replica from, and returns what the core sent.
func (c *testCluster) step(t *testing.T, to, from int, m *wire.Message) ([]pbft.Envelope, error) {
	t.Helper()
	src := pbft.FromReplica(uint32(from))
	if m.GetRequest() != nil {
		src = pbft.FromClient(c.client.PublicKey())
	}
	err := c.cores[to].Step(src, m)
	if !c.cores[to].HasReady() {
		return nil, err
	}
	return c.cores[to].Ready().Messages, err
}

// sent is an envelope and the replica that sent it.
type sent struct {
	from int
	pbft.Envelope
}

// run has the honest cores order three requests, the last two in one batch
// (the primary holds them while the first is in flight), and returns every
// message they sent.
func (c *testCluster) run(t *testing.T) []sent {
	t.Helper()
	var all, queue []sent
	for range 3 {
		out, err := c.step(t, 0, -1, c.request())
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range out {
			queue = append(queue, sent{0, env})
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		all = append(all, s)
		for to := range c.cores {
			if to == s.from || s.To == pbft.ToClient || (s.To != pbft.Broadcast && s.To != to) {
				continue
			}
			out, _ := c.step(t, to, s.from, s.Msg)
			for _, env := range out {
				queue = append(queue, sent{to, env})
			}
		}
	}
	return all
}

// find is the first message of all that replica from sent and has returns
// true for.
func find(t *testing.T, all []sent, from int, has func(*wire.Message) bool) pbft.Envelope {
	t.Helper()
	for _, s := range all {
		if s.from == from && has(s.Msg) {
			return s.Envelope
		}
	}
	t.Fatalf("replica %d sent no such message", from)
	return pbft.Envelope{}
}

// batchOf is a pre-prepare of at least n requests.
func batchOf(n int) func(*wire.Message) bool {
	return func(m *wire.Message) bool { return len(m.GetPrePrepare().GetRequests()) >= n }
}
