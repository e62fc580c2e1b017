package sim

import (
	"container/heap"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// event is one thing that happens at a virtual instant. Ties in time are
// broken by insertion order, so a run depends on its seed alone.
type event struct {
	at    uint64
	order uint64
	// A control action when action is set, a delivery when msg is set, else
	// a tick of node.
	node   int
	from   int
	side   int // which instance of a twinned sender sent msg (1: its twin)
	msg    *wire.Message
	action func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].order < q[j].order
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// schedule adds an event at time at.
func (s *Sim) schedule(e event) {
	s.order++
	e.order = s.order
	heap.Push(&s.queue, e)
}

func (s *Sim) next() (event, bool) {
	if len(s.queue) == 0 {
		return event{}, false
	}
	return heap.Pop(&s.queue).(event), true
}
