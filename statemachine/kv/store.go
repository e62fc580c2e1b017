package kv

import (
	"bytes"
	"fmt"

	"github.com/bulwark-bft/bulwark/statemachine"
)

// Store is the key-value service. Like every statemachine.Service it is not
// safe for concurrent use.
type Store struct {
	data map[string][]byte

	// Digest and the sorted key list are cached because the replica asks for
	// a digest at every checkpoint and most keys do not change between
	// checkpoints. digestOK is cleared by any write; sortedOK only when the
	// key set changes, so overwriting values does not force a re-sort.
	digest   [32]byte
	digestOK bool
	sorted   []string
	sortedOK bool
}

var _ statemachine.Service = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{data: make(map[string][]byte)}
}

// Len returns the number of keys.
func (s *Store) Len() int { return len(s.data) }

// Apply executes ops in order and returns one encoded Result per op. seq is
// not recorded; see the package documentation.
func (s *Store) Apply(seq uint64, ops []statemachine.Op) [][]byte {
	// Encode all results into one buffer and hand out capacity-limited
	// subslices: one allocation per batch instead of one per op, and an
	// append by the caller to one result cannot overwrite the next.
	ends := make([]int, len(ops))
	var buf []byte
	for i, op := range ops {
		buf = appendResult(buf, s.apply(op.Data))
		ends[i] = len(buf)
	}
	results := make([][]byte, len(ops))
	start := 0
	for i, end := range ends {
		results[i] = buf[start:end:end]
		start = end
	}
	return results
}

func (s *Store) apply(raw []byte) Result {
	op, err := DecodeOp(raw)
	if err != nil {
		return Result{Status: StatusError, Err: err.Error()}
	}
	switch op.Kind {
	case OpPut:
		s.put(op.Key, op.Value)
		return Result{Status: StatusOK}
	case OpGet:
		return s.get(op.Key)
	case OpDelete:
		s.delete(op.Key)
		return Result{Status: StatusOK}
	case OpCAS:
		return s.cas(op.Key, op.Old, op.Value)
	}
	// Unreachable: DecodeOp only returns known kinds. Answer rather than
	// panic so a future kind added to the decoder alone cannot crash replicas.
	return Result{Status: StatusError, Err: fmt.Sprintf("kv: unsupported op %v", op.Kind)}
}

// Query answers a get against the current state and returns the encoded
// Result. Errors wrap ErrMalformedOp (or a size error) for bad ops and
// ErrNotReadOnly for anything but a get.
func (s *Store) Query(_ []byte, op []byte) ([]byte, error) {
	o, err := DecodeOp(op)
	if err != nil {
		return nil, fmt.Errorf("kv: query: %w", err)
	}
	if o.Kind != OpGet {
		return nil, fmt.Errorf("kv: query %v: %w", o.Kind, ErrNotReadOnly)
	}
	return EncodeResult(s.get(o.Key)), nil
}

func (s *Store) get(key []byte) Result {
	v, ok := s.data[string(key)]
	if !ok {
		return Result{Status: StatusNotFound}
	}
	return Result{Status: StatusOK, Value: v}
}

// put copies value: op buffers belong to the caller and may be reused.
func (s *Store) put(key, value []byte) {
	old, ok := s.data[string(key)]
	if ok && bytes.Equal(old, value) {
		return // no change; keep the cached digest
	}
	s.digestOK = false
	if ok && len(old) == len(value) {
		// Overwrite in place: avoids allocating both a value and a map key
		// string. Safe because stored slices never escape the store (results
		// and snapshots copy them).
		copy(old, value)
		return
	}
	if !ok {
		s.sortedOK = false
	}
	// make+copy rather than append(nil, ...) so an empty value is stored as
	// non-nil and reads back as present-but-empty.
	v := make([]byte, len(value))
	copy(v, value)
	s.data[string(key)] = v
}

func (s *Store) delete(key []byte) {
	if _, ok := s.data[string(key)]; !ok {
		return // idempotent; nothing to invalidate
	}
	delete(s.data, string(key))
	s.sortedOK = false
	s.digestOK = false
}

func (s *Store) cas(key, old, newValue []byte) Result {
	cur, ok := s.data[string(key)]
	var match bool
	if len(old) == 0 {
		match = !ok // empty old means "key absent"
	} else {
		match = ok && bytes.Equal(cur, old)
	}
	if !match {
		return Result{Status: StatusUnchanged, Value: cur} // cur is nil when absent
	}
	s.put(key, newValue)
	return Result{Status: StatusSwapped}
}

// ServiceIdentity names the service for cluster files (statemachine.Identified).
func (s *Store) ServiceIdentity() (name, version string) { return "kv", "1" }
