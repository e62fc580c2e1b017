package bench

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

type countingTransport struct {
	pbft.Transport
	sent map[uint32]int
}

func (c *countingTransport) Send(id uint32, _ *wire.Message) { c.sent[id]++ }

func TestPartitionDropsOnlyTheCutReplicasLinks(t *testing.T) {
	p := newPartition()
	ts := make([]*countingTransport, 4)
	gates := make([]pbft.Transport, 4)
	for i := range ts {
		ts[i] = &countingTransport{sent: map[uint32]int{}}
		gates[i] = p.wrap(uint32(i))(ts[i])
	}
	sendAll := func() {
		for from := range gates {
			for to := range 4 {
				if from != to {
					gates[from].Send(uint32(to), &wire.Message{})
				}
			}
		}
	}
	sendAll()
	p.set(2)
	sendAll()
	p.heal()
	sendAll()
	for from, tr := range ts {
		for to := range 4 {
			if from == to {
				continue
			}
			want := 3
			if from == 2 || to == 2 {
				want = 2 // lost while cut
			}
			if got := tr.sent[uint32(to)]; got != want {
				t.Errorf("%d -> %d: %d sends delivered, want %d", from, to, got, want)
			}
		}
	}
}

func TestClusterViewNeedsFPlusOneReplicas(t *testing.T) {
	for _, tc := range []struct {
		views []uint64
		n     int
		want  uint64
	}{
		{[]uint64{0, 0, 1, 0}, 4, 0}, // one replica alone in a view change
		{[]uint64{1, 1, 1}, 4, 1},    // the primary killed, the rest moved
		{[]uint64{2, 1, 1, 0}, 4, 1},
		{[]uint64{3}, 4, 0},
		{[]uint64{0, 0, 5, 5, 0, 5, 0}, 7, 5},
	} {
		if got := clusterView(tc.views, tc.n); got != tc.want {
			t.Errorf("clusterView(%v, %d) = %d, want %d", tc.views, tc.n, got, tc.want)
		}
	}
}
