package bench

import (
	"testing"

	"github.com/bulwark-bft/bulwark/pbft/driver"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

type countingTransport struct {
	driver.Transport
	sent map[uint32]int
}

func (c *countingTransport) Send(id uint32, _ *wire.Message) { c.sent[id]++ }

func TestPartitionDropsOnlyTheCutReplicasLinks(t *testing.T) {
	p := newPartition()
	ts := make([]*countingTransport, 4)
	gates := make([]driver.Transport, 4)
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
