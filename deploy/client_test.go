package deploy

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// quietLogger keeps the libp2p hosts' reconnect chatter out of the test log.
// The test's clients are long-lived, one connection per replica, as an
// application's would be.
var quietLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// replicaStatus is one entry of `bulwark status --json`; the field names are
// the command-line contract's. Spelled out here rather than shared with the
// command, so the test checks the contract, not the command against itself.
type replicaStatus struct {
	ID               uint32 `json:"id"`
	Reachable        bool   `json:"reachable"`
	View             uint64 `json:"view"`
	Primary          uint32 `json:"primary"`
	LastExecuted     uint64 `json:"last_executed"`
	StableCheckpoint uint64 `json:"stable_checkpoint"`
	StateDigest      string `json:"state_digest"`
	ViewChanging     bool   `json:"view_changing"`
}

func (s replicaStatus) String() string {
	if !s.Reachable {
		return fmt.Sprintf("replica %d unreachable", s.ID)
	}
	digest := s.StateDigest
	if len(digest) > 12 {
		digest = digest[:12]
	}
	return fmt.Sprintf("replica %d: view %d changing=%v, last executed %d, stable %d, digest %s",
		s.ID, s.View, s.ViewChanging, s.LastExecuted, s.StableCheckpoint, digest)
}

// statusProbe asks the replicas for their Status over one long-lived client
// host, the same query `bulwark status` sends.
type statusProbe struct {
	host *network.ClientHost
	n    int
}

func newStatusProbe(ctx context.Context, c *bulwark.Cluster) (*statusProbe, error) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	host, err := network.NewClientHost(ctx, key, c.Peers, network.WithLogger(quietLogger))
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &statusProbe{host: host, n: c.N()}, nil
}

// poll returns every replica's status; one that does not answer within
// timeout is unreachable. Answers left over from an earlier poll are
// discarded first.
func (p *statusProbe) poll(ctx context.Context, timeout time.Duration) []replicaStatus {
	for drained := false; !drained; {
		select {
		case <-p.host.Inbound():
		default:
			drained = true
		}
	}
	sts := make([]replicaStatus, p.n)
	for i := range sts {
		sts[i].ID = uint32(i)
		p.host.Send(uint32(i), &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{}}})
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for answered := 0; answered < p.n; {
		select {
		case <-ctx.Done():
			return sts
		case m, ok := <-p.host.Inbound():
			if !ok {
				return sts
			}
			st, id := m.Msg.GetStatus(), m.From.Replica
			if st == nil || id < 0 || id >= p.n || sts[id].Reachable || st.GetReplica() != uint32(id) {
				continue
			}
			sts[id] = replicaStatus{
				ID: uint32(id), Reachable: true, View: st.GetView(), Primary: uint32(st.GetView() % uint64(p.n)),
				LastExecuted: st.GetLastExecuted(), StableCheckpoint: st.GetStableSequence(),
				StateDigest: hex.EncodeToString(st.GetStateDigest()), ViewChanging: st.GetViewChanging(),
			}
			answered++
		}
	}
	return sts
}
