package pbft

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"
)

// The state blob is the replicated state at a checkpoint in one canonical
// encoding: what snapshots store, state transfer ships, and the checkpoint's
// digest covers (statetree.go). Big-endian throughout:
//
//	"BWST" 0x01                          magic and version
//	u64 n, n bytes                       the service's snapshot
//	u64 count, then per session          sorted by client key, then session
//	    32-byte client key, u64 session, u64 timestamp, u64 sequence,
//	    u32 n, n bytes of result
//	u64 count, then per client key       sorted by key
//	    32-byte client key, u64 floor
//	u64 global floor
//
// The reply cache (each session's last executed timestamp and result) is
// replicated state: left out, a state transfer would let a request execute
// twice. The floors are what eviction leaves of evicted sessions (see
// clients.go).

const stateMagic = "BWST\x01"

// ErrMalformedState marks a state blob that does not decode.
var ErrMalformedState = errors.New("malformed state blob")

// sessionEntry is one session's replicated state.
type sessionEntry struct {
	key    sessionKey
	ts     uint64
	seq    uint64 // where its last request executed
	result []byte
}

// clientState is the replicated part of the client table: sessions and
// the floors of evicted ones.
type clientTable struct {
	sessions []sessionEntry // canonical order
	floors   map[string]uint64
	global   uint64
}

func encodeState(svc []byte, t clientTable) []byte {
	size := len(stateMagic) + 8 + len(svc) + 8 + 8 + 8 + len(t.floors)*(crypto.PublicKeySize+8)
	for _, e := range t.sessions {
		size += crypto.PublicKeySize + 8 + 8 + 8 + 4 + len(e.result)
	}
	b := make([]byte, 0, size)
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(svc)))
	b = append(b, svc...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(t.sessions)))
	for _, e := range t.sessions {
		b = append(b, e.key.client...)
		b = binary.BigEndian.AppendUint64(b, e.key.session)
		b = binary.BigEndian.AppendUint64(b, e.ts)
		b = binary.BigEndian.AppendUint64(b, e.seq)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.result)))
		b = append(b, e.result...)
	}
	keys := make([]string, 0, len(t.floors))
	for k := range t.floors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.BigEndian.AppendUint64(b, uint64(len(keys)))
	for _, k := range keys {
		b = append(b, k...)
		b = binary.BigEndian.AppendUint64(b, t.floors[k])
	}
	return binary.BigEndian.AppendUint64(b, t.global)
}

// stateReader reads a blob without trusting any length beyond what remains.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: %d bytes wanted, %d left", ErrMalformedState, n, len(r.b))
		}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *stateReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *stateReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// decodeState decodes a blob, checking every session and floor is
// well-formed and in canonical order, so that a blob decodes only if
// encodeState gives it back byte for byte.
func decodeState(blob []byte, maxSessions uint64) (svc []byte, t clientTable, err error) {
	r := &stateReader{b: blob}
	if !bytes.Equal(r.take(uint64(len(stateMagic))), []byte(stateMagic)) {
		return nil, t, fmt.Errorf("%w: bad magic or version", ErrMalformedState)
	}
	svc = bytes.Clone(r.take(r.u64()))
	n := r.u64()
	const minEntry = crypto.PublicKeySize + 8 + 8 + 8 + 4
	if n > uint64(len(r.b))/minEntry {
		return nil, t, fmt.Errorf("%w: %d sessions in %d bytes", ErrMalformedState, n, len(r.b))
	}
	t.sessions = make([]sessionEntry, 0, n)
	for i := range n {
		e := sessionEntry{key: sessionKey{client: string(r.take(crypto.PublicKeySize))}}
		e.key.session, e.ts, e.seq = r.u64(), r.u64(), r.u64()
		e.result = bytes.Clone(r.take(uint64(r.u32())))
		switch {
		case r.err != nil:
			return nil, t, r.err
		case e.key.session >= maxSessions || e.ts == 0:
			return nil, t, fmt.Errorf("%w: session entry %d", ErrMalformedState, i)
		case i > 0 && compareSessionKeys(t.sessions[i-1].key, e.key) >= 0:
			return nil, t, fmt.Errorf("%w: session entry %d out of order", ErrMalformedState, i)
		}
		t.sessions = append(t.sessions, e)
	}
	nf := r.u64()
	if nf > uint64(len(r.b))/(crypto.PublicKeySize+8) {
		return nil, t, fmt.Errorf("%w: %d floors in %d bytes", ErrMalformedState, nf, len(r.b))
	}
	t.floors = make(map[string]uint64, nf)
	prev := ""
	for i := range nf {
		k := string(r.take(crypto.PublicKeySize))
		f := r.u64()
		if r.err == nil && i > 0 && k <= prev {
			return nil, t, fmt.Errorf("%w: floor %d out of order", ErrMalformedState, i)
		}
		t.floors[k], prev = f, k
	}
	t.global = r.u64()
	if r.err == nil && len(r.b) > 0 {
		return nil, t, fmt.Errorf("%w: %d trailing bytes", ErrMalformedState, len(r.b))
	}
	return svc, t, r.err
}

// clientTable is this replica's replicated client state, canonically
// ordered.
func (r *Replica) clientTable() clientTable {
	t := clientTable{floors: r.floors, global: r.globalFloor}
	if bug(BugReplyCacheNotSnapshotted) {
		return clientTable{}
	}
	for k, cs := range r.clients {
		if cs.lastTS > 0 { // pending requests differ between replicas; executed ones do not
			t.sessions = append(t.sessions, sessionEntry{key: k, ts: cs.lastTS, seq: cs.lastSeq, result: cs.lastResult})
		}
	}
	slices.SortFunc(t.sessions, func(a, b sessionEntry) int { return compareSessionKeys(a.key, b.key) })
	return t
}

func compareSessionKeys(a, b sessionKey) int {
	return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.session, b.session))
}

// stateBlob encodes the current replicated state.
func (r *Replica) stateBlob() ([]byte, error) {
	svc, err := r.svc.Snapshot()
	if err != nil {
		return nil, err
	}
	return encodeState(svc, r.clientTable()), nil
}
