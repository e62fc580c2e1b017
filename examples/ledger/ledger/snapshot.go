package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

const (
	snapshotMagic   = "BWLG"
	snapshotVersion = 1
	headerSize      = len(snapshotMagic) + 1 + 4
	entrySize       = AccountSize + 8
)

// ErrBadSnapshot reports a snapshot Restore refuses.
var ErrBadSnapshot = errors.New("ledger: bad snapshot")

// Snapshot implements statemachine.Service. Accounts are sorted so that the
// bytes, whose hash checkpoints certify, do not depend on map order.
func (l *Ledger) Snapshot() ([]byte, error) {
	accounts := slices.SortedFunc(maps.Keys(l.balances), func(a, b Account) int { return bytes.Compare(a[:], b[:]) })
	out := make([]byte, 0, headerSize+entrySize*len(accounts))
	out = append(out, snapshotMagic...)
	out = append(out, snapshotVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(accounts)))
	for _, a := range accounts {
		out = append(out, a[:]...)
		out = binary.BigEndian.AppendUint64(out, l.balances[a])
	}
	return out, nil
}

// Restore implements statemachine.Service. It checks the whole snapshot
// before replacing anything, sizes its map from the count only once the
// input is known to hold that many entries, and refuses any snapshot that
// is not exactly one Snapshot could have written: not canonical, or one
// whose balances do not add up (a state transfer from a faulty peer must not
// mint money).
func (l *Ledger) Restore(snap []byte) error {
	if len(snap) < headerSize || string(snap[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: no %s header", ErrBadSnapshot, snapshotMagic)
	}
	if v := snap[len(snapshotMagic)]; v != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	count := int(binary.BigEndian.Uint32(snap[len(snapshotMagic)+1:]))
	if count > MaxAccounts {
		return fmt.Errorf("%w: %d accounts, at most %d", ErrBadSnapshot, count, MaxAccounts)
	}
	if len(snap) != headerSize+entrySize*count {
		return fmt.Errorf("%w: %d bytes for %d accounts, want %d", ErrBadSnapshot, len(snap), count, headerSize+entrySize*count)
	}
	balances := make(map[Account]uint64, count)
	supply := InitialGrant * uint64(count)
	var sum uint64
	var prev Account
	for i := range count {
		e := snap[headerSize+i*entrySize:]
		var a Account
		copy(a[:], e[:AccountSize])
		if i > 0 && bytes.Compare(prev[:], a[:]) >= 0 {
			return fmt.Errorf("%w: account %d is not after account %d", ErrBadSnapshot, i, i-1)
		}
		bal := binary.BigEndian.Uint64(e[AccountSize:])
		if bal > supply-sum { // also keeps sum from overflowing
			return fmt.Errorf("%w: balances exceed %d × %d", ErrBadSnapshot, InitialGrant, count)
		}
		sum += bal
		balances[a], prev = bal, a
	}
	if sum != supply {
		return fmt.Errorf("%w: balances sum to %d, want %d × %d", ErrBadSnapshot, sum, InitialGrant, count)
	}
	l.balances = balances
	return nil
}
