package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Instance names one running replica core: side 0 is the replica itself,
// side 1 the second instance of a twinned replica (Twins).
type Instance struct{ Replica, Side int }

// A Partitioner cuts links between replica instances. The simulator asks it
// as each replica message arrives whether the message reaches the receiving
// instance; a message it refuses is lost. Client requests and replies are
// never cut.
type Partitioner interface {
	// Connected says whether m, sent by instance from (which is now in view
	// senderView), reaches instance to at time now.
	Connected(now uint64, m *wire.Message, senderView uint64, from, to Instance) bool
}

// connected is which instances of replica n the replica message of event e
// reaches under partitioner p.
func (s *Sim) connected(p Partitioner, n *node, e event) []*pbft.Replica {
	sender := s.replicas[e.from]
	senderCore := sender.r
	if e.side == 1 {
		senderCore = sender.twin
	}
	from := Instance{Replica: e.from, Side: e.side}
	var out []*pbft.Replica
	for side, r := range []*pbft.Replica{n.r, n.twin} {
		if r != nil && p.Connected(s.now, e.msg, senderCore.View(), from, Instance{Replica: e.node, Side: side}) {
			out = append(out, r)
		}
	}
	return out
}

// messageView is the view a message belongs to: the view it names (for a
// VIEW-CHANGE, the view it asks for), or for messages that name none
// (checkpoints, state transfer, forwarded requests) its sender's view.
func messageView(m *wire.Message, senderView uint64) uint64 {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return c.PrePrepare.GetView()
	case *wire.Message_Prepare:
		return c.Prepare.GetView()
	case *wire.Message_Commit:
		return c.Commit.GetView()
	case *wire.Message_ViewChange:
		return c.ViewChange.GetNewView()
	case *wire.Message_NewView:
		return c.NewView.GetView()
	case *wire.Message_Status:
		return c.Status.GetView()
	}
	return senderView
}

// formatGroups writes a partition, groups[k] being node k's group, as
// "{0 1}{2 3}" with name naming the nodes.
func formatGroups(groups []int, name func(int) string) string {
	var b strings.Builder
	for g := range slices.Max(groups) + 1 {
		var names []string
		for k, gk := range groups {
			if gk == g {
				names = append(names, name(k))
			}
		}
		fmt.Fprintf(&b, "{%s}", strings.Join(names, " "))
	}
	return b.String()
}
