package bulwark

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// ReplicaStatus is one replica's answer to a status query (what `bulwark
// status` prints; the JSON names are part of its output). A replica that
// did not answer in time has Reachable false and nothing else set. The
// answers are each replica's own word: a Byzantine replica may lie, so
// compare them rather than trust one.
type ReplicaStatus struct {
	ID               uint32 `json:"id"`
	Reachable        bool   `json:"reachable"`
	View             uint64 `json:"view"`
	Primary          uint32 `json:"primary"`
	LastExecuted     uint64 `json:"last_executed"`
	StableCheckpoint uint64 `json:"stable_checkpoint"`
	// StateDigest is the hex digest of the state at StableCheckpoint.
	StateDigest  string `json:"state_digest"`
	ViewChanging bool   `json:"view_changing"`
}

// statusResend is how often unanswered replicas are asked again: streams
// may still be opening, and replicas rate-limit status queries.
const statusResend = 250 * time.Millisecond

// statusCollector gathers the answers to one round of status queries.
type statusCollector struct {
	sts      []ReplicaStatus
	answered int
}

func newStatusCollector(n int) *statusCollector {
	sc := &statusCollector{sts: make([]ReplicaStatus, n)}
	for i := range sc.sts {
		sc.sts[i].ID = uint32(i)
	}
	return sc
}

// ask queries every replica that has not answered yet.
func (sc *statusCollector) ask(t pbft.Transport) {
	for i := range sc.sts {
		if !sc.sts[i].Reachable {
			t.Send(uint32(i), &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{}}})
		}
	}
}

// take records m if it is a replica's first status answer.
func (sc *statusCollector) take(m pbft.Inbound) {
	st := m.Msg.GetStatus()
	id := m.From.Replica
	if st == nil || id < 0 || id >= len(sc.sts) || sc.sts[id].Reachable || st.GetReplica() != uint32(id) {
		return
	}
	sc.sts[id] = ReplicaStatus{
		ID: uint32(id), Reachable: true, View: st.GetView(), Primary: uint32(st.GetView() % uint64(len(sc.sts))),
		LastExecuted: st.GetLastExecuted(), StableCheckpoint: st.GetStableSequence(),
		StateDigest: hex.EncodeToString(st.GetStateDigest()), ViewChanging: st.GetViewChanging(),
	}
	sc.answered++
}

func (sc *statusCollector) done() bool { return sc.answered == len(sc.sts) }

// collect asks until every replica answered or ctx ends; the replicas that
// did not answer are reported unreachable.
func (sc *statusCollector) collect(ctx context.Context, t pbft.Transport, in <-chan pbft.Inbound) []ReplicaStatus {
	sc.ask(t)
	resend := time.NewTicker(statusResend)
	defer resend.Stop()
	for !sc.done() {
		select {
		case <-ctx.Done():
			return sc.sts
		case <-resend.C:
			sc.ask(t)
		case m, ok := <-in:
			if !ok {
				return sc.sts
			}
			m.Done()
			sc.take(m)
		}
	}
	return sc.sts
}

// QueryStatus asks every replica of c for its status over the client
// protocol, with a connection of its own under key, and returns what
// arrived before ctx ended. Use Client.Status from a running client: two
// connections under one key would take each other's replies.
func QueryStatus(ctx context.Context, c *Cluster, key *crypto.PrivateKey, opts ...network.ClientOption) ([]ReplicaStatus, error) {
	host, err := network.NewClientHost(ctx, key, c.Peers, opts...)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	defer host.Close()
	return newStatusCollector(c.N()).collect(ctx, host, host.Inbound()), nil
}

// statusQueries serialises a client's status rounds, which share its
// inbound status messages.
type statusQueries struct{ mu sync.Mutex }

// Status asks every replica for its status over the client's connection
// and returns what arrived before ctx ended (give it a deadline: an
// unreachable replica is waited for until then).
func (c *Client) Status(ctx context.Context) ([]ReplicaStatus, error) {
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	in := c.inner.StatusAnswers()
	for len(in) > 0 { // answers to an earlier round
		(<-in).Done()
	}
	return newStatusCollector(c.n).collect(ctx, c.host, in), nil
}
