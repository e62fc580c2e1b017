package ledger

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/servicetest"
)

// The conformance suite sends its operations from client keys of all 1s,
// 2s and 3s; genOp names those accounts and one that never opens, with
// amounts around the grant so that insufficient funds is common.
var suiteAccounts = []Account{acct(1), acct(2), acct(3), acct(9)}

func acct(b byte) Account { return Account(bytes.Repeat([]byte{b}, AccountSize)) }

func genOp(r *rand.Rand) []byte {
	a := suiteAccounts[r.IntN(len(suiteAccounts))]
	switch r.IntN(6) {
	case 0:
		return EncodeOpen()
	case 1:
		return EncodeBalance(a)
	case 2:
		return EncodeSupply()
	default:
		return EncodeTransfer(a, 1+r.Uint64N(InitialGrant+InitialGrant/2))
	}
}

func TestConformance(t *testing.T) {
	servicetest.Run(t, func() statemachine.Service { return New() }, genOp)
}

// do applies one op as client and decodes its result.
func do(t *testing.T, l *Ledger, client Account, op []byte) Result {
	t.Helper()
	res := l.Apply(1, []statemachine.Op{{Client: client[:], Data: op}})
	if len(res) != 1 {
		t.Fatalf("%d results for one op", len(res))
	}
	r, err := DecodeResult(res[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func balance(t *testing.T, l *Ledger, a Account) uint64 {
	t.Helper()
	bal, ok := l.Balance(a)
	if !ok {
		t.Fatalf("account %s is not open", a)
	}
	return bal
}

// A transfer debits whoever sent it. The same bytes sent by Mallory, who
// wants Alice's money, debit Mallory; with no account of her own she moves
// nothing at all.
func TestOnlyTheOwnerDebits(t *testing.T) {
	alice, bob, mallory := acct(0xa1), acct(0xb0), acct(0x3a)
	l := New()
	for _, a := range []Account{alice, bob} {
		if r := do(t, l, a, EncodeOpen()); r.Code != OK || r.Amount != InitialGrant {
			t.Fatalf("open: %+v", r)
		}
	}
	pay := EncodeTransfer(bob, 100)
	if r := do(t, l, mallory, pay); r.Code != NoAccount {
		t.Fatalf("transfer from a client with no account: %v, want %v", r.Code, NoAccount)
	}
	if balance(t, l, alice) != InitialGrant || balance(t, l, bob) != InitialGrant {
		t.Fatal("a transfer from a client with no account moved money")
	}
	do(t, l, mallory, EncodeOpen())
	if r := do(t, l, mallory, pay); r.Code != OK || r.Amount != InitialGrant-100 {
		t.Fatalf("Mallory's transfer: %+v", r)
	}
	if balance(t, l, alice) != InitialGrant || balance(t, l, mallory) != InitialGrant-100 || balance(t, l, bob) != InitialGrant+100 {
		t.Fatal("Mallory's transfer did not debit Mallory alone")
	}
	if r := do(t, l, alice, pay); r.Code != OK || balance(t, l, alice) != InitialGrant-100 {
		t.Fatalf("Alice's transfer: %+v", r)
	}
}

// Whatever other clients send, well-formed or not, Alice's balance never
// goes down: no operation names the account to debit.
func TestNoWayToDebitAnother(t *testing.T) {
	alice := acct(0xa1)
	l := New()
	do(t, l, alice, EncodeOpen())
	r := rand.New(rand.NewPCG(1, 2))
	others := []Account{acct(1), acct(2), acct(3)}
	last := InitialGrant
	for i := range 5000 {
		op := genOp(r)
		if r.IntN(3) == 0 { // aim at Alice, or send garbage
			op = EncodeTransfer(alice, 1+r.Uint64N(MaxAmount))
			op[1+r.IntN(len(op)-1)] ^= byte(r.Uint32())
		}
		do(t, l, others[i%len(others)], op)
		if bal := balance(t, l, alice); bal < last {
			t.Fatalf("op %d (%x) from another client took Alice from %d to %d", i, op, last, bal)
		} else {
			last = bal
		}
	}
}

func TestRefusals(t *testing.T) {
	alice, bob, nobody := acct(0xa1), acct(0xb0), acct(0x77)
	l := New()
	do(t, l, alice, EncodeOpen())
	do(t, l, bob, EncodeOpen())
	for _, c := range []struct {
		name   string
		client Account
		op     []byte
		want   Code
		amount uint64
	}{
		{"insufficient funds", alice, EncodeTransfer(bob, InitialGrant+1), InsufficientFunds, InitialGrant},
		{"whole balance", alice, EncodeTransfer(bob, InitialGrant), OK, 0},
		{"empty account", alice, EncodeTransfer(bob, 1), InsufficientFunds, 0},
		{"unknown recipient", bob, EncodeTransfer(nobody, 1), NoRecipient, 2 * InitialGrant},
		{"open twice", bob, EncodeOpen(), AlreadyOpen, 2 * InitialGrant},
		{"self transfer", bob, EncodeTransfer(bob, 1), Refused, 0},
		{"zero amount", bob, EncodeTransfer(alice, 0), Refused, 0},
		{"oversized amount", bob, EncodeTransfer(alice, MaxAmount+1), Refused, 0},
		{"balance of nobody", bob, EncodeBalance(nobody), NoAccount, 0},
		{"balance", bob, EncodeBalance(bob), OK, 2 * InitialGrant},
		{"supply", nobody, EncodeSupply(), OK, 2 * InitialGrant},
	} {
		r := do(t, l, c.client, c.op)
		if r.Code != c.want || r.Amount != c.amount || r.Accounts != 2 {
			t.Errorf("%s: %v %d (%d accounts), want %v %d (2 accounts)", c.name, r.Code, r.Amount, r.Accounts, c.want, c.amount)
		}
	}
}

// Admit refuses what the bytes alone condemn, and nothing that depends on
// balances (an unknown recipient, an empty account).
func TestAdmit(t *testing.T) {
	l := New()
	alice, bob := acct(0xa1), acct(0xb0)
	for _, c := range []struct {
		name   string
		client []byte
		op     []byte
		want   error
	}{
		{"open", alice[:], EncodeOpen(), nil},
		{"transfer to a stranger", alice[:], EncodeTransfer(bob, MaxAmount), nil},
		{"no key", nil, EncodeSupply(), ErrNoClientKey},
		{"short key", alice[:31], EncodeOpen(), ErrNoClientKey},
		{"empty", alice[:], nil, ErrMalformed},
		{"unknown kind", alice[:], []byte{0x7f}, ErrMalformed},
		{"trailing byte", alice[:], append(EncodeOpen(), 0), ErrMalformed},
		{"truncated", alice[:], EncodeTransfer(bob, 1)[:40], ErrMalformed},
		{"zero", alice[:], EncodeTransfer(bob, 0), ErrAmount},
		{"too much", alice[:], EncodeTransfer(bob, MaxAmount+1), ErrAmount},
		{"self", alice[:], EncodeTransfer(alice, 1), ErrSelfTransfer},
	} {
		if err := l.Admit(c.client, c.op); !errors.Is(err, c.want) {
			t.Errorf("%s: Admit = %v, want %v", c.name, err, c.want)
		}
	}
}

// Over random batches from a handful of clients the supply is always the
// grant times the accounts, and snapshots round-trip.
func TestConservation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	clients := make([]Account, 12)
	for i := range clients {
		clients[i] = acct(byte(0x40 + i))
	}
	l := New()
	for seq := range uint64(400) {
		ops := make([]statemachine.Op, r.IntN(20))
		for i := range ops {
			var data []byte
			switch to := clients[r.IntN(len(clients))]; r.IntN(8) {
			case 0:
				data = EncodeOpen()
			case 1:
				data = EncodeBalance(to)
			default:
				data = EncodeTransfer(to, 1+r.Uint64N(400))
			}
			from := clients[r.IntN(len(clients))]
			ops[i] = statemachine.Op{Client: from[:], Data: data}
		}
		l.Apply(seq, ops)
		if got, want := l.Total(), InitialGrant*uint64(l.Len()); got != want {
			t.Fatalf("after batch %d: supply %d, want %d × %d", seq, got, InitialGrant, l.Len())
		}
	}
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := New()
	if err := back.Restore(snap); err != nil {
		t.Fatal(err)
	}
	for _, a := range clients {
		b1, ok1 := l.Balance(a)
		b2, ok2 := back.Balance(a)
		if b1 != b2 || ok1 != ok2 {
			t.Fatalf("account %s: %d %v before the snapshot, %d %v after", a, b1, ok1, b2, ok2)
		}
	}
}

// Restore refuses snapshots that are well-formed but could not have been
// written: money minted or lost, accounts out of order, a count beyond
// MaxAccounts whose bytes are not there.
func TestRestoreRefusesImpossibleState(t *testing.T) {
	l := New()
	do(t, l, acct(1), EncodeOpen())
	do(t, l, acct(2), EncodeOpen())
	good, _ := l.Snapshot()
	minted := bytes.Clone(good)
	minted[len(minted)-1]++ // acct(2) holds one more
	swapped := bytes.Clone(good)
	copy(swapped[headerSize:], good[headerSize+entrySize:])
	copy(swapped[headerSize+entrySize:], good[headerSize:headerSize+entrySize])
	huge := bytes.Clone(good[:headerSize])
	copy(huge[headerSize-4:], []byte{0xff, 0xff, 0xff, 0xff})
	missing := bytes.Clone(good[:headerSize])
	copy(missing[headerSize-4:], []byte{0, 0, 0xff, 0xff})
	robbed := bytes.Clone(good)
	copy(robbed[headerSize+AccountSize:], []byte{0, 0, 0, 0, 0, 0, 0, 0})              // acct(1) holds 0
	copy(robbed[headerSize+entrySize+AccountSize:], []byte{0, 0, 0, 0, 0, 0, 7, 0xd0}) // acct(2) holds 2000
	for name, snap := range map[string][]byte{"minted": minted, "out of order": swapped, "huge count": huge, "entries missing": missing} {
		victim := New()
		do(t, victim, acct(5), EncodeOpen())
		if err := victim.Restore(snap); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: Restore = %v, want ErrBadSnapshot", name, err)
		}
		if victim.Len() != 1 || victim.Total() != InitialGrant {
			t.Errorf("%s: a refused Restore changed the state", name)
		}
	}
	// Balances may move between accounts, so this one is a possible state.
	if err := New().Restore(robbed); err != nil {
		t.Errorf("a redistributed snapshot: %v", err)
	}
}

func TestCodesAndResults(t *testing.T) {
	for c := range numCodes {
		r := Result{Code: c, Amount: uint64(c) * 7, Accounts: 3}
		got, err := DecodeResult(EncodeResult(r))
		if err != nil || got != r {
			t.Fatalf("%v: round trip gave %+v, %v", c, got, err)
		}
		if c.String() == "" {
			t.Fatalf("code %d has no name", c)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 16), append([]byte{byte(numCodes)}, make([]byte, 16)...), make([]byte, 18)} {
		if _, err := DecodeResult(b); !errors.Is(err, ErrBadResult) {
			t.Errorf("DecodeResult(%x) = %v", b, err)
		}
	}
	if !IsReadOnly(EncodeSupply()) || !IsReadOnly(EncodeBalance(acct(1))) || IsReadOnly(EncodeOpen()) {
		t.Fatal("IsReadOnly")
	}
	if _, err := New().Query(nil, EncodeOpen()); !errors.Is(err, ErrNotReadOnly) {
		t.Fatalf("Query(open) = %v", err)
	}
}

// FuzzDecodeOp: DecodeOp never panics and accepts only canonical encodings.
func FuzzDecodeOp(f *testing.F) {
	f.Add(EncodeOpen())
	f.Add(EncodeTransfer(acct(1), 5))
	f.Add(EncodeBalance(acct(2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := DecodeOp(b)
		if err != nil {
			return
		}
		var again []byte
		switch op.Kind {
		case KindOpen:
			again = EncodeOpen()
		case KindTransfer:
			again = EncodeTransfer(op.Account, op.Amount)
		case KindBalance:
			again = EncodeBalance(op.Account)
		case KindSupply:
			again = EncodeSupply()
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted non-canonical %x", b)
		}
	})
}

// FuzzRestore: Restore never panics, and what it accepts is canonical and
// conserves the supply.
func FuzzRestore(f *testing.F) {
	l := New()
	one := acct(1)
	l.Apply(1, []statemachine.Op{{Client: one[:], Data: EncodeOpen()}})
	snap, _ := l.Snapshot()
	f.Add(snap)
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := New()
		if err := l.Restore(b); err != nil {
			return
		}
		out, _ := l.Snapshot()
		if !bytes.Equal(out, b) || l.Total() != InitialGrant*uint64(l.Len()) {
			t.Fatalf("accepted %x", b)
		}
	})
}
