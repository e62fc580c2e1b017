package storage

import "fmt"

// Kind is the type of a record; it is the first byte of every key, so records
// of one kind are contiguous and a per-kind prefix scan is cheap.
type Kind uint8

const (
	// KindView is the replica's current view: a single record, overwritten.
	KindView Kind = iota + 1
	// KindPrePrepare is a pre-prepare the replica accepted or issued.
	KindPrePrepare
	// KindPrepare is the replica's own prepare.
	KindPrepare
	// KindCommit is the replica's own commit.
	KindCommit
	// KindPreparedCert is a prepared certificate.
	KindPreparedCert
	// KindCommitted is a batch committed since the stable checkpoint, kept so
	// a restart can re-execute it.
	KindCommitted
	// KindCheckpointCert is a checkpoint certificate: a stable checkpoint a
	// replica adopted before it held the state there.
	KindCheckpointCert
	// KindSnapshotMeta describes a complete snapshot. It is written only by
	// PutSnapshot, never by Write, and Load does not return it.
	KindSnapshotMeta

	// kindSnapshotChunk is the private prefix of snapshot chunks. It sorts
	// above every public Kind so Load can stop at it.
	kindSnapshotChunk Kind = 0x80
)

var kindNames = map[Kind]string{
	KindView:           "view",
	KindPrePrepare:     "pre-prepare",
	KindPrepare:        "prepare",
	KindCommit:         "commit",
	KindPreparedCert:   "prepared-cert",
	KindCommitted:      "committed",
	KindCheckpointCert: "checkpoint-cert",
	KindSnapshotMeta:   "snapshot-meta",
	kindSnapshotChunk:  "snapshot-chunk",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// writable reports whether Write accepts records of this kind; snapshot
// records go through PutSnapshot so a snapshot is never half-visible.
func (k Kind) writable() bool {
	return k >= KindView && k <= KindCheckpointCert
}

// Record is one stored item. Data is opaque to the store.
type Record struct {
	Kind     Kind
	Sequence uint64
	View     uint64
	Replica  uint32
	Data     []byte
}
