package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Limits. They are part of what every replica must agree on: changing one
// changes which operations succeed, so it needs a new service version.
const (
	// InitialGrant is what open credits a new account with.
	InitialGrant uint64 = 1000
	// MaxAmount bounds one transfer. It is checked before ordering (Admit),
	// an example of a rule that needs no state.
	MaxAmount uint64 = 1_000_000
	// MaxAccounts bounds the ledger, and so the snapshot (40 bytes an
	// account) and the total supply, which then cannot overflow a uint64.
	MaxAccounts = 100_000
)

// AccountSize is the size of an account name: an ed25519 public key.
const AccountSize = 32

// Account names an account by its owner's public key.
type Account [AccountSize]byte

// AccountOf is the account owned by the client with public key pub.
func AccountOf(pub []byte) (Account, error) {
	var a Account
	if len(pub) != AccountSize {
		return a, fmt.Errorf("%w: %d bytes, want %d", ErrNoClientKey, len(pub), AccountSize)
	}
	copy(a[:], pub)
	return a, nil
}

// ParseAccount reads an account written as hex (its String form).
func ParseAccount(s string) (Account, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return Account{}, fmt.Errorf("ledger: account %q: %w", s, err)
	}
	return AccountOf(b)
}

func (a Account) String() string { return hex.EncodeToString(a[:]) }

// Kind is an operation's first byte.
type Kind byte

const (
	KindOpen     Kind = 0x01
	KindTransfer Kind = 0x02
	KindBalance  Kind = 0x03
	KindSupply   Kind = 0x04
)

// Op is a decoded operation. Account is the recipient of a transfer or the
// account a balance reads; Amount is a transfer's.
type Op struct {
	Kind    Kind
	Account Account
	Amount  uint64
}

// Errors of operations refused before they are ordered (Admit), and by Apply
// and Query alike. Their text reaches the client in a rejected result, so it
// depends only on the operation.
var (
	ErrMalformed    = errors.New("ledger: malformed operation")
	ErrAmount       = fmt.Errorf("ledger: amount must be 1 to %d", MaxAmount)
	ErrSelfTransfer = errors.New("ledger: transfer to one's own account")
	ErrNoClientKey  = errors.New("ledger: the operation has no 32-byte client key")
	ErrNotReadOnly  = errors.New("ledger: only balance and supply are read-only")
)

// EncodeOpen opens the sender's account.
func EncodeOpen() []byte { return []byte{byte(KindOpen)} }

// EncodeTransfer moves amount from the sender's account to to. There is no
// "from": the sender is whoever signed the request.
func EncodeTransfer(to Account, amount uint64) []byte {
	b := make([]byte, 0, 1+AccountSize+8)
	b = append(b, byte(KindTransfer))
	b = append(b, to[:]...)
	return binary.BigEndian.AppendUint64(b, amount)
}

// EncodeBalance reads account's balance.
func EncodeBalance(account Account) []byte {
	return append([]byte{byte(KindBalance)}, account[:]...)
}

// EncodeSupply reads the sum of all balances and the number of accounts.
func EncodeSupply() []byte { return []byte{byte(KindSupply)} }

// DecodeOp parses an operation, refusing any byte string that is not exactly
// the encoding of one, and transfer amounts outside 1..MaxAmount.
func DecodeOp(b []byte) (Op, error) {
	if len(b) == 0 {
		return Op{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	op := Op{Kind: Kind(b[0])}
	body := b[1:]
	want := 0
	switch op.Kind {
	case KindOpen, KindSupply:
	case KindTransfer:
		want = AccountSize + 8
	case KindBalance:
		want = AccountSize
	default:
		return Op{}, fmt.Errorf("%w: unknown kind 0x%02x", ErrMalformed, b[0])
	}
	if len(body) != want {
		return Op{}, fmt.Errorf("%w: kind 0x%02x is %d bytes, got %d", ErrMalformed, b[0], 1+want, len(b))
	}
	if want > 0 {
		copy(op.Account[:], body)
	}
	if op.Kind == KindTransfer {
		op.Amount = binary.BigEndian.Uint64(body[AccountSize:])
		if op.Amount == 0 || op.Amount > MaxAmount {
			return Op{}, ErrAmount
		}
	}
	return op, nil
}

// IsReadOnly reports whether op is a well-formed read (balance or supply),
// which a client may send unordered.
func IsReadOnly(op []byte) bool {
	o, err := DecodeOp(op)
	return err == nil && (o.Kind == KindBalance || o.Kind == KindSupply)
}

// Code is a result's outcome.
type Code byte

const (
	OK Code = iota
	// Refused: malformed or not allowed (what Admit refuses; Apply gives
	// this code when such an operation reaches it anyway).
	Refused
	// NoAccount: the sender of a transfer, or the account a balance reads,
	// has not opened an account.
	NoAccount
	// NoRecipient: a transfer's recipient has not opened an account (money
	// sent there could never be spent).
	NoRecipient
	AlreadyOpen
	InsufficientFunds
	LedgerFull
	numCodes
)

var codeNames = [numCodes]string{"ok", "refused", "no such account", "no such recipient", "already open", "insufficient funds", "ledger full"}

func (c Code) String() string {
	if c < numCodes {
		return codeNames[c]
	}
	return fmt.Sprintf("code %d", byte(c))
}

// Result is an operation's outcome (see the package documentation).
type Result struct {
	Code     Code
	Amount   uint64
	Accounts uint64
}

const resultSize = 1 + 8 + 8

// EncodeResult is r's 17-byte encoding.
func EncodeResult(r Result) []byte {
	b := make([]byte, 0, resultSize)
	b = append(b, byte(r.Code))
	b = binary.BigEndian.AppendUint64(b, r.Amount)
	return binary.BigEndian.AppendUint64(b, r.Accounts)
}

// ErrBadResult reports bytes that are not a result.
var ErrBadResult = errors.New("ledger: malformed result")

// DecodeResult parses a result.
func DecodeResult(b []byte) (Result, error) {
	if len(b) != resultSize || Code(b[0]) >= numCodes {
		return Result{}, fmt.Errorf("%w (%d bytes)", ErrBadResult, len(b))
	}
	return Result{
		Code:     Code(b[0]),
		Amount:   binary.BigEndian.Uint64(b[1:9]),
		Accounts: binary.BigEndian.Uint64(b[9:17]),
	}, nil
}
