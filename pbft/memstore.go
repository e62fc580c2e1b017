package pbft

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ErrPowerLoss is what a MemStore returns once FailAfter's operations ran
// out: the write did not happen, and nothing after it will until Crash.
var ErrPowerLoss = errors.New("memstore: power lost")

// MemStore is a Storage in memory, for simulations and tests, with the
// weakest semantics the Storage contract allows: a write without sync stays
// pending until a later synced write, snapshot or deletion, and Crash
// forgets whatever is pending, as a power cut would. FailAfter stops the
// store in the middle of a Persist, so a crash can land between any two of
// its writes.
type MemStore struct {
	durable map[memKey]Record
	pending []Record // unsynced writes, in order
	snapSeq uint64
	snap    []byte // nil: no snapshot
	// left counts the operations that still succeed; negative: no limit.
	left int
	// ops counts every operation that changed the store, for tests.
	ops int
}

type memKey struct {
	kind      RecordKind
	seq, view uint64
	replica   uint32
}

func keyOfRecord(r Record) memKey {
	if r.Kind == RecordView {
		return memKey{kind: RecordView} // one record, overwritten
	}
	return memKey{r.Kind, r.Sequence, r.View, r.Replica}
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{durable: make(map[memKey]Record), left: -1}
}

// FailAfter lets n more operations succeed; every later one fails with
// ErrPowerLoss and changes nothing, until Crash.
func (m *MemStore) FailAfter(n int) { m.left = n }

// Crash forgets every write not yet synced and lifts FailAfter: the store is
// what a replica restarting after a power cut finds.
func (m *MemStore) Crash() {
	m.pending = nil
	m.left = -1
}

// Operations counts the operations that changed the store so far.
func (m *MemStore) Operations() int { return m.ops }

// Pending reports whether unsynced writes would be lost by a crash now.
func (m *MemStore) Pending() bool { return len(m.pending) > 0 }

func (m *MemStore) begin() error {
	if m.left == 0 {
		return ErrPowerLoss
	}
	if m.left > 0 {
		m.left--
	}
	m.ops++
	return nil
}

// sync makes the pending writes durable: a later synced write flushes
// everything before it, as a log on disk does.
func (m *MemStore) sync() {
	for _, r := range m.pending {
		m.durable[keyOfRecord(r)] = r
	}
	m.pending = nil
}

// Write implements Storage.
func (m *MemStore) Write(recs []Record, sync bool) error {
	if err := m.begin(); err != nil {
		return err
	}
	for _, r := range recs {
		r.Data = slices.Clone(r.Data)
		m.pending = append(m.pending, r)
	}
	if sync {
		m.sync()
	}
	return nil
}

// PutSnapshot implements Storage.
func (m *MemStore) PutSnapshot(seq uint64, data []byte) error {
	if m.snap != nil && seq < m.snapSeq {
		return fmt.Errorf("memstore: snapshot at %d is older than the stored one at %d", seq, m.snapSeq)
	}
	if err := m.begin(); err != nil {
		return err
	}
	m.sync()
	m.snapSeq, m.snap = seq, append([]byte{}, data...)
	return nil
}

// DeleteBelow implements Storage.
func (m *MemStore) DeleteBelow(seq uint64) error {
	if err := m.begin(); err != nil {
		return err
	}
	m.sync()
	for k := range m.durable {
		if k.kind != RecordView && k.seq < seq {
			delete(m.durable, k)
		}
	}
	return nil
}

// Snapshot implements Storage.
func (m *MemStore) Snapshot() (uint64, []byte, error) {
	if m.snap == nil {
		return 0, nil, nil
	}
	return m.snapSeq, slices.Clone(m.snap), nil
}

// Load implements Storage: what a running process reads back, pending
// writes included.
func (m *MemStore) Load() ([]Record, error) {
	all := make(map[memKey]Record, len(m.durable)+len(m.pending))
	for k, r := range m.durable {
		all[k] = r
	}
	for _, r := range m.pending {
		all[keyOfRecord(r)] = r
	}
	recs := make([]Record, 0, len(all))
	for _, r := range all {
		r.Data = slices.Clone(r.Data)
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Sequence, b.Sequence),
			cmp.Compare(a.View, b.View), cmp.Compare(a.Replica, b.Replica))
	})
	return recs, nil
}

// LoadAt implements Storage, pending writes included.
func (m *MemStore) LoadAt(kind RecordKind, seq uint64) ([]Record, error) {
	var out []Record
	seen := make(map[memKey]bool)
	for i := len(m.pending) - 1; i >= 0; i-- { // the latest write of a key wins
		r := m.pending[i]
		if k := keyOfRecord(r); r.Kind == kind && r.Sequence == seq && !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for k, r := range m.durable {
		if k.kind == kind && k.seq == seq && !seen[k] {
			out = append(out, r)
		}
	}
	return out, nil
}

// Clone returns an independent copy of the store, pending writes included.
func (m *MemStore) Clone() *MemStore {
	c := &MemStore{durable: make(map[memKey]Record, len(m.durable)), snapSeq: m.snapSeq, left: -1, ops: m.ops}
	for k, r := range m.durable {
		c.durable[k] = r
	}
	c.pending = slices.Clone(m.pending)
	if m.snap != nil {
		c.snap = slices.Clone(m.snap)
	}
	return c
}
