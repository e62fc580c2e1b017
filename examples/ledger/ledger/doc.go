// Package ledger is a small bank ledger written as a Bulwark service: the
// example of how to replicate a service of your own (see ../README.md).
//
// Accounts are named by their owner's ed25519 public key (32 bytes) and hold
// a uint64 balance. The one rule that makes it a ledger and not a key-value
// store: a transfer debits the account of the client that sent it, taken
// from statemachine.Op.Client, the key the replica verified the request
// under. No operation names the account to debit, so no client can move
// another's money, whatever bytes it sends.
//
// # Operations
//
// Every operation is one kind byte and fixed-size fields, big-endian, so each
// has exactly one encoding (trailing bytes are refused):
//
//	open     0x01                                     1 byte
//	transfer 0x02 | to (32 bytes) | amount (uint64)   41 bytes
//	balance  0x03 | account (32 bytes)                33 bytes
//	supply   0x04                                     1 byte
//
// What they do:
//
//   - open creates the sender's account with InitialGrant, once.
//   - transfer moves amount (1..MaxAmount) from the sender's account to to.
//   - balance reads one account; supply sums every balance. Both are
//     read-only: a client may send them unordered (Query) or ordered (Apply).
//
// # Results
//
// A result is 17 bytes: code (1) | amount (uint64) | accounts (uint64), where
// accounts is the number of open accounts and amount is, by operation, the
// new balance (open), the sender's balance after the transfer (transfer), the
// balance read (balance) or the sum of all balances (supply). A refused
// operation has code other than OK and changes nothing.
//
// # Invariants
//
// The sum of all balances is always InitialGrant times the number of
// accounts: open adds exactly the grant, a transfer moves money and creates
// none. Restore refuses a snapshot that breaks it.
//
// # Snapshots
//
//	"BWLG" | version (1 byte, 1) | count (uint32) | count × (account (32) | balance (uint64))
//
// with accounts in strictly increasing byte order, so equal states give equal
// bytes on every replica.
package ledger
