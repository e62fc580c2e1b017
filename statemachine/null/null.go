// Package null is a service that does no work, for benchmarking the protocol
// without a real workload.
//
// Its state is just two counters, the number of ops applied and the sequence
// number of the last batch, so replicas that applied different histories
// still produce different digests and a checkpoint mismatch is detectable.
package null

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bulwark-bft/bulwark/statemachine"
)

const (
	snapshotMagic   = "BWNL"
	snapshotVersion = 1
	// snapshotSize is magic | version | applied (uint64) | last seq (uint64).
	snapshotSize = len(snapshotMagic) + 1 + 8 + 8
)

var (
	// ErrMalformedSnapshot reports a snapshot of the wrong size or magic.
	ErrMalformedSnapshot = errors.New("null: malformed snapshot")
	// ErrSnapshotVersion reports a snapshot written by an unknown format version.
	ErrSnapshotVersion = errors.New("null: unsupported snapshot version")
)

// Service is the null service. It is not safe for concurrent use.
type Service struct {
	applied uint64
	lastSeq uint64
}

var _ statemachine.Service = (*Service)(nil)

// New returns a service that has applied nothing.
func New() *Service { return &Service{} }

// Applied returns the number of ops applied.
func (s *Service) Applied() uint64 { return s.applied }

// LastSeq returns the sequence number of the last applied batch.
func (s *Service) LastSeq() uint64 { return s.lastSeq }

// Apply counts ops and records seq. Each op's result is the op itself, so a
// reply is as large as its request, as in the classic 0/0, 1024/1024 and
// 4096/4096 microbenchmarks, without copying: only the protocol is measured.
func (s *Service) Apply(seq uint64, ops []statemachine.Op) [][]byte {
	results := make([][]byte, len(ops))
	for i, op := range ops {
		results[i] = op.Data
		if op.Data == nil {
			results[i] = []byte{}
		}
	}
	s.applied += uint64(len(ops))
	s.lastSeq = seq
	return results
}

// Query returns the applied-op count as 8 bytes big-endian. Every op is
// accepted: the null service has no operation format to violate.
func (s *Service) Query(_ []byte, op []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, s.applied), nil
}

// Snapshot encodes the two counters. It never fails.
func (s *Service) Snapshot() ([]byte, error) {
	return s.encode(), nil
}

func (s *Service) encode() []byte {
	b := make([]byte, 0, snapshotSize)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, s.applied)
	return binary.BigEndian.AppendUint64(b, s.lastSeq)
}

// Restore replaces the counters with those in snap; on error nothing changes.
func (s *Service) Restore(snap []byte) error {
	if len(snap) != snapshotSize {
		return fmt.Errorf("null: restore: %w: %d bytes, want %d", ErrMalformedSnapshot, len(snap), snapshotSize)
	}
	if string(snap[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("null: restore: %w: bad magic", ErrMalformedSnapshot)
	}
	if v := snap[len(snapshotMagic)]; v != snapshotVersion {
		return fmt.Errorf("null: restore: %w: got %d, want %d", ErrSnapshotVersion, v, snapshotVersion)
	}
	body := snap[len(snapshotMagic)+1:]
	s.applied = binary.BigEndian.Uint64(body)
	s.lastSeq = binary.BigEndian.Uint64(body[8:])
	return nil
}

// Digest is SHA-256 over the snapshot encoding of the counters.
func (s *Service) Digest() [32]byte {
	return sha256.Sum256(s.encode())
}

// ServiceIdentity names the service for cluster files (statemachine.Identified).
func (s *Service) ServiceIdentity() (name, version string) { return "null", "1" }
