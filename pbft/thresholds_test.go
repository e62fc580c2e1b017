package pbft_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/crypto/cryptotest"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// TestClusterSizes: only n = 3f+1 replicas make a cluster.
func TestClusterSizes(t *testing.T) {
	scheme := cryptotest.NewScheme(1)
	for n := 1; n <= 13; n++ {
		pubs := make([]crypto.PublicKey, n)
		var signer crypto.Signer
		for i := range pubs {
			s := scheme.NewSigner(fmt.Sprint("replica-", i))
			if i == 0 {
				signer = s
			}
			pubs[i] = s.PublicKey()
		}
		_, err := pbft.New(pbft.Config{
			ClusterID: "sizes", Replicas: pubs, Signer: signer, Verifier: scheme, Service: kv.New(),
		})
		want := n >= 4 && (n-1)%3 == 0
		if got := err == nil; got != want {
			t.Errorf("n=%d: New error %v, want accepted=%v", n, err, want)
		}
		if err != nil && !errors.Is(err, pbft.ErrConfig) {
			t.Errorf("n=%d: error %v does not wrap ErrConfig", n, err)
		}
	}
}

// TestQuorumThresholds measures each quorum through the replicas' behaviour
// for f = 1, 2, 3, delivering one vote at a time and noting the vote that
// tips it: prepared at 2f matching prepares from backups, committed-local at
// 2f+1 commits, a stable checkpoint at 2f+1 checkpoints (each replica's own
// counting), and the client's acceptance at f+1 replies.
func TestQuorumThresholds(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		f := (n - 1) / 3
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			h := newCluster(t, n, pbft.Config{CheckpointInterval: 1, MaxBatchSize: 1, StatusTicks: 1000})
			c := h.client("c1")
			req, err := c.session.Submit(kv.EncodePut([]byte("k"), []byte("v")), false)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range h.allReplicas() {
				h.send("c1", id, wireRequest(req))
			}
			h.deliverWhere(func(envelope) bool { return true }, false)
			h.deliverWhere(ofType("pre-prepare"), false)

			// The votes each replica receives, in the order of their senders.
			sentBy := func(typ string, from int) func(envelope) bool {
				return func(e envelope) bool { return msgType(e.msg) == typ && e.fromID == from }
			}
			to := func(id int, pick func(envelope) bool) func(envelope) bool {
				return func(e envelope) bool { return e.toID == id && pick(e) }
			}
			// tally delivers votes of typ to replica id one sender at a time
			// (skipping id itself and the senders in skip) and returns how many
			// it took until done() holds.
			tally := func(id int, typ string, skip int, done func() bool) int {
				votes := 0
				for from := range n {
					if from == id || from == skip {
						continue
					}
					if h.deliverWhere(to(id, sentBy(typ, from)), false) == 0 {
						t.Fatalf("no %s from %d to %d", typ, from, id)
					}
					votes++
					if done() {
						return votes
					}
				}
				t.Fatalf("replica %d: %d %ss never sufficed", id, votes, typ)
				return 0
			}
			sentCommit := func(id int) func() bool {
				return func() bool {
					for _, e := range h.queue {
						if e.fromID == id && msgType(e.msg) == "commit" {
							return true
						}
					}
					return false
				}
			}

			// A backup counts its own prepare: it needs 2f-1 more.
			if got := tally(1, "prepare", 0, sentCommit(1)); got != 2*f-1 {
				t.Errorf("backup prepared after %d prepares from others, want 2f-1 = %d", got, 2*f-1)
			}
			// The primary sends no prepare: it needs 2f from backups.
			if got := tally(0, "prepare", -1, sentCommit(0)); got != 2*f {
				t.Errorf("primary prepared after %d prepares, want 2f = %d", got, 2*f)
			}
			h.deliverWhere(ofType("prepare"), false)

			executed := func(id int) func() bool {
				return func() bool { return h.replicas[id].LastExecuted() == 1 }
			}
			if got := tally(2, "commit", -1, executed(2)); got != 2*f {
				t.Errorf("committed after own commit and %d others, want 2f = %d", got, 2*f)
			}
			h.deliverWhere(ofType("commit"), false)

			stable := func(id int) func() bool {
				return func() bool { return h.replicas[id].StableCheckpoint() == 1 }
			}
			if got := tally(3, "checkpoint", -1, stable(3)); got != 2*f {
				t.Errorf("checkpoint stable after own and %d others, want 2f = %d", got, 2*f)
			}

			replies := 0
			for from := range n {
				h.deliverWhere(func(e envelope) bool { return e.to == "c1" && e.from == strconv.Itoa(from) }, false)
				replies++
				if len(c.accepted) == 1 {
					break
				}
			}
			if replies != f+1 {
				t.Errorf("client accepted after %d replies, want f+1 = %d", replies, f+1)
			}
		})
	}
}

func ofType(typ string) func(envelope) bool {
	return func(e envelope) bool { return msgType(e.msg) == typ }
}

// Configuration values whose arithmetic would wrap are refused.
func TestConfigRefusesWrappingValues(t *testing.T) {
	for name, tune := range map[string]func(*pbft.Config){
		"window twice a huge interval": func(c *pbft.Config) { c.CheckpointInterval, c.WindowSize = 1<<63+1, 1<<63+1 },
		"view change ticks":            func(c *pbft.Config) { c.ViewChangeTicks = pbft.MaxViewChangeTicks + 1 },
	} {
		scheme := cryptotest.NewScheme(3)
		var pubs []crypto.PublicKey
		var signers []crypto.Signer
		for i := range 4 {
			signers = append(signers, scheme.NewSigner(fmt.Sprint(i)))
			pubs = append(pubs, signers[i].PublicKey())
		}
		cfg := pbft.Config{ClusterID: "c", ID: 0, Replicas: pubs, Signer: signers[0], Verifier: scheme, Service: kv.New()}
		tune(&cfg)
		if _, err := pbft.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
