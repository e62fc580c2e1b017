package ledger

import (
	"github.com/bulwark-bft/bulwark/statemachine"
)

// Name and Version identify the service (statemachine.Identified). A cluster
// file naming them keeps a replica running anything else from starting; bump
// Version whenever results or the snapshot format change.
const (
	Name    = "ledger"
	Version = "1"
)

// Ledger is the replicated state: every account's balance. Its methods are
// called from the replica's one protocol goroutine, so it needs no locks.
type Ledger struct {
	balances map[Account]uint64
}

// The interfaces the replica looks for; the compiler checks them here.
var (
	_ statemachine.Service    = (*Ledger)(nil)
	_ statemachine.Admission  = (*Ledger)(nil)
	_ statemachine.Identified = (*Ledger)(nil)
)

// New returns an empty ledger.
func New() *Ledger { return &Ledger{balances: make(map[Account]uint64)} }

// ServiceIdentity implements statemachine.Identified.
func (l *Ledger) ServiceIdentity() (name, version string) { return Name, Version }

// Admit implements statemachine.Admission: it refuses, before ordering, what
// can be refused from the bytes alone. It must not look at the balances:
// replicas ask it at different points of the history, and they must all
// answer alike.
func (l *Ledger) Admit(client []byte, op []byte) error {
	_, _, err := check(client, op)
	return err
}

// check decodes op and finds its sender: the state-free checks Admit and
// Apply share, so an operation Admit would refuse never changes the state
// even if it reaches Apply.
func check(client, data []byte) (Op, Account, error) {
	sender, err := AccountOf(client)
	if err != nil {
		return Op{}, Account{}, err
	}
	op, err := DecodeOp(data)
	if err != nil {
		return Op{}, Account{}, err
	}
	if op.Kind == KindTransfer && op.Account == sender {
		return Op{}, Account{}, ErrSelfTransfer
	}
	return op, sender, nil
}

// Apply implements statemachine.Service: one result per op, in order.
func (l *Ledger) Apply(_ uint64, ops []statemachine.Op) [][]byte {
	out := make([][]byte, len(ops))
	for i, op := range ops {
		out[i] = EncodeResult(l.apply(op.Client, op.Data))
	}
	return out
}

func (l *Ledger) apply(client, data []byte) Result {
	op, sender, err := check(client, data)
	if err != nil {
		return l.result(Refused, 0)
	}
	switch op.Kind {
	case KindOpen:
		if bal, ok := l.balances[sender]; ok {
			return l.result(AlreadyOpen, bal)
		}
		if len(l.balances) >= MaxAccounts {
			return l.result(LedgerFull, 0)
		}
		l.balances[sender] = InitialGrant
		return l.result(OK, InitialGrant)
	case KindTransfer:
		// The debited account is the sender's, from the verified client
		// key: this is the whole of the authorisation.
		from, ok := l.balances[sender]
		if !ok {
			return l.result(NoAccount, 0)
		}
		to, ok := l.balances[op.Account]
		if !ok {
			return l.result(NoRecipient, from)
		}
		if from < op.Amount {
			return l.result(InsufficientFunds, from)
		}
		// No overflow: to+amount is at most the total supply, which
		// MaxAccounts keeps far below 2^64.
		l.balances[sender] = from - op.Amount
		l.balances[op.Account] = to + op.Amount
		return l.result(OK, from-op.Amount)
	default:
		return l.read(op)
	}
}

// Query implements statemachine.Service for balance and supply, against
// the state after the last Apply. Other operations are an error, and the
// client then orders them.
func (l *Ledger) Query(_ []byte, data []byte) ([]byte, error) {
	op, err := DecodeOp(data)
	if err != nil {
		return nil, err
	}
	if op.Kind != KindBalance && op.Kind != KindSupply {
		return nil, ErrNotReadOnly
	}
	return EncodeResult(l.read(op)), nil
}

// read answers balance and supply, ordered or not.
func (l *Ledger) read(op Op) Result {
	if op.Kind == KindSupply {
		return l.result(OK, l.Total())
	}
	bal, ok := l.balances[op.Account]
	if !ok {
		return l.result(NoAccount, 0)
	}
	return l.result(OK, bal)
}

func (l *Ledger) result(c Code, amount uint64) Result {
	return Result{Code: c, Amount: amount, Accounts: uint64(len(l.balances))}
}

// Balance is account's balance, and whether it is open.
func (l *Ledger) Balance(a Account) (uint64, bool) {
	bal, ok := l.balances[a]
	return bal, ok
}

// Len is the number of open accounts.
func (l *Ledger) Len() int { return len(l.balances) }

// Total is the sum of all balances, which is always InitialGrant × Len().
func (l *Ledger) Total() uint64 {
	var sum uint64
	for _, bal := range l.balances {
		sum += bal
	}
	return sum
}
