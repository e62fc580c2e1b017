package kv

import (
	"errors"
	"fmt"
)

// Size limits. They bound the memory one operation can claim on every replica
// and keep a single batch from stalling execution.
const (
	MaxKeySize   = 1 << 10
	MaxValueSize = 1 << 20
)

var (
	// ErrMalformedOp reports an operation that does not follow the encoding.
	ErrMalformedOp = errors.New("kv: malformed op")
	// ErrKeyTooLarge reports a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("kv: key too large")
	// ErrValueTooLarge reports a value or cas old value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("kv: value too large")
	// ErrNotReadOnly reports a Query with an op that would modify state.
	ErrNotReadOnly = errors.New("kv: op is not read-only")
)

// OpKind identifies an operation; its value is the opcode byte on the wire.
// The zero value is not a valid kind, so a zeroed Op is never mistaken for one.
type OpKind uint8

// Operation kinds.
const (
	OpPut OpKind = iota + 1
	OpGet
	OpDelete
	OpCAS
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpDelete:
		return "delete"
	case OpCAS:
		return "cas"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is a decoded operation. Its slices alias the buffer it was decoded from.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // put: value to store; cas: replacement value
	Old   []byte // cas only: expected current value; empty means "key absent"
}

// EncodePut encodes a put. Limits are checked when the op is applied, so an
// oversized op still gets a (StatusError) reply rather than vanishing.
func EncodePut(key, value []byte) []byte {
	b := make([]byte, 0, 1+2*lenSize+len(key)+len(value))
	b = append(b, byte(OpPut))
	b = appendField(b, key)
	return appendField(b, value)
}

// EncodeGet encodes a get.
func EncodeGet(key []byte) []byte {
	b := make([]byte, 0, 1+lenSize+len(key))
	b = append(b, byte(OpGet))
	return appendField(b, key)
}

// EncodeDelete encodes a delete.
func EncodeDelete(key []byte) []byte {
	b := make([]byte, 0, 1+lenSize+len(key))
	b = append(b, byte(OpDelete))
	return appendField(b, key)
}

// EncodeCAS encodes a compare-and-swap of key from old to newValue. An empty
// or nil old means the swap happens only if key is absent.
func EncodeCAS(key, old, newValue []byte) []byte {
	b := make([]byte, 0, 1+3*lenSize+len(key)+len(old)+len(newValue))
	b = append(b, byte(OpCAS))
	b = appendField(b, key)
	b = appendField(b, old)
	return appendField(b, newValue)
}

// DecodeOp parses and validates an operation, including size limits. The
// returned slices alias op. Errors wrap ErrMalformedOp, ErrKeyTooLarge or
// ErrValueTooLarge.
func DecodeOp(op []byte) (Op, error) {
	r := reader{b: op, malformed: ErrMalformedOp}
	code, err := r.readByte("opcode")
	if err != nil {
		return Op{}, err
	}
	o := Op{Kind: OpKind(code)}
	switch o.Kind {
	case OpPut, OpGet, OpDelete, OpCAS:
	default:
		return Op{}, fmt.Errorf("%w: unknown opcode %#02x", ErrMalformedOp, code)
	}
	if o.Key, err = r.field("key", MaxKeySize, ErrKeyTooLarge); err != nil {
		return Op{}, fmt.Errorf("decode %v: %w", o.Kind, err)
	}
	if o.Kind == OpCAS {
		if o.Old, err = r.field("old value", MaxValueSize, ErrValueTooLarge); err != nil {
			return Op{}, fmt.Errorf("decode %v: %w", o.Kind, err)
		}
	}
	if o.Kind == OpPut || o.Kind == OpCAS {
		if o.Value, err = r.field("value", MaxValueSize, ErrValueTooLarge); err != nil {
			return Op{}, fmt.Errorf("decode %v: %w", o.Kind, err)
		}
	}
	if err := r.end(); err != nil {
		return Op{}, fmt.Errorf("decode %v: %w", o.Kind, err)
	}
	return o, nil
}

// IsReadOnly reports whether op is a well-formed get, i.e. one the replica may
// answer with Query instead of ordering it. Anything else, including a
// malformed op, must go through Apply.
func IsReadOnly(op []byte) bool {
	o, err := DecodeOp(op)
	return err == nil && o.Kind == OpGet
}
