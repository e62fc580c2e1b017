package kv

import (
	"bytes"
	"errors"
	"testing"
)

func TestOpRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{'v'}, MaxValueSize)
	bigKey := bytes.Repeat([]byte{'k'}, MaxKeySize)
	tests := []struct {
		name string
		enc  []byte
		want Op
	}{
		{"put", EncodePut([]byte("k"), []byte("v")), Op{Kind: OpPut, Key: []byte("k"), Value: []byte("v")}},
		{"put empty value", EncodePut([]byte("k"), nil), Op{Kind: OpPut, Key: []byte("k"), Value: []byte{}}},
		{"put empty key", EncodePut(nil, []byte("v")), Op{Kind: OpPut, Key: []byte{}, Value: []byte("v")}},
		{"put at limits", EncodePut(bigKey, big), Op{Kind: OpPut, Key: bigKey, Value: big}},
		{"get", EncodeGet([]byte("k")), Op{Kind: OpGet, Key: []byte("k")}},
		{"delete", EncodeDelete([]byte("k")), Op{Kind: OpDelete, Key: []byte("k")}},
		{"cas", EncodeCAS([]byte("k"), []byte("o"), []byte("n")), Op{Kind: OpCAS, Key: []byte("k"), Old: []byte("o"), Value: []byte("n")}},
		{"cas absent", EncodeCAS([]byte("k"), nil, []byte("n")), Op{Kind: OpCAS, Key: []byte("k"), Old: []byte{}, Value: []byte("n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOp(tt.enc)
			if err != nil {
				t.Fatalf("DecodeOp: %v", err)
			}
			if got.Kind != tt.want.Kind || !bytes.Equal(got.Key, tt.want.Key) ||
				!bytes.Equal(got.Value, tt.want.Value) || !bytes.Equal(got.Old, tt.want.Old) {
				t.Fatalf("DecodeOp = %+v, want %+v", got, tt.want)
			}
			if re := reencode(got); !bytes.Equal(re, tt.enc) {
				t.Fatalf("re-encoding differs: %x vs %x", re, tt.enc)
			}
		})
	}
}

// reencode encodes a decoded op again; equal bytes show the format is canonical.
func reencode(o Op) []byte {
	switch o.Kind {
	case OpPut:
		return EncodePut(o.Key, o.Value)
	case OpGet:
		return EncodeGet(o.Key)
	case OpDelete:
		return EncodeDelete(o.Key)
	case OpCAS:
		return EncodeCAS(o.Key, o.Old, o.Value)
	}
	return nil
}

func TestDecodeOpRejects(t *testing.T) {
	tests := []struct {
		name string
		op   []byte
		want error
	}{
		{"nil", nil, ErrMalformedOp},
		{"empty", []byte{}, ErrMalformedOp},
		{"opcode zero", []byte{0, 0, 0, 0, 0}, ErrMalformedOp},
		{"unknown opcode", append([]byte{5}, EncodeGet([]byte("k"))[1:]...), ErrMalformedOp},
		{"opcode 0xff", []byte{0xff}, ErrMalformedOp},
		{"get trailing byte", append(EncodeGet([]byte("k")), 0), ErrMalformedOp},
		{"put trailing byte", append(EncodePut([]byte("k"), []byte("v")), 0), ErrMalformedOp},
		{"get missing key", []byte{byte(OpGet)}, ErrMalformedOp},
		{"put missing value", append([]byte{byte(OpPut)}, EncodeGet([]byte("k"))[1:]...), ErrMalformedOp},
		{"cas missing new", append([]byte{byte(OpCAS)}, EncodePut([]byte("k"), []byte("o"))[1:]...), ErrMalformedOp},
		{"huge length prefix", []byte{byte(OpGet), 0xff, 0xff, 0xff, 0xff}, ErrKeyTooLarge},
		{"length beyond input", []byte{byte(OpGet), 0, 0, 0, 10, 'k'}, ErrMalformedOp},
		{"key too large", EncodeGet(make([]byte, MaxKeySize+1)), ErrKeyTooLarge},
		{"value too large", EncodePut([]byte("k"), make([]byte, MaxValueSize+1)), ErrValueTooLarge},
		{"cas old too large", EncodeCAS([]byte("k"), make([]byte, MaxValueSize+1), nil), ErrValueTooLarge},
		{"cas new too large", EncodeCAS([]byte("k"), nil, make([]byte, MaxValueSize+1)), ErrValueTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeOp(tt.op)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeOp(%x) error = %v, want %v", tt.op, err, tt.want)
			}
		})
	}
}

// TestDecodeOpRejectsTruncation checks every proper prefix of every op kind.
func TestDecodeOpRejectsTruncation(t *testing.T) {
	for _, op := range [][]byte{
		EncodePut([]byte("key"), []byte("value")),
		EncodeGet([]byte("key")),
		EncodeDelete([]byte("key")),
		EncodeCAS([]byte("key"), []byte("old"), []byte("new")),
		EncodeCAS(nil, nil, nil),
	} {
		for n := range len(op) {
			if _, err := DecodeOp(op[:n]); !errors.Is(err, ErrMalformedOp) {
				t.Errorf("DecodeOp(%x) (prefix %d of %x) error = %v, want ErrMalformedOp", op[:n], n, op, err)
			}
		}
	}
}

func TestIsReadOnly(t *testing.T) {
	tests := []struct {
		name string
		op   []byte
		want bool
	}{
		{"get", EncodeGet([]byte("k")), true},
		{"get empty key", EncodeGet(nil), true},
		{"put", EncodePut([]byte("k"), nil), false},
		{"delete", EncodeDelete([]byte("k")), false},
		{"cas", EncodeCAS([]byte("k"), nil, nil), false},
		{"truncated get", EncodeGet([]byte("k"))[:3], false},
		{"get with trailing bytes", append(EncodeGet([]byte("k")), 1), false},
		{"oversized get", EncodeGet(make([]byte, MaxKeySize+1)), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := IsReadOnly(tt.op); got != tt.want {
			t.Errorf("%s: IsReadOnly = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOpKindString(t *testing.T) {
	for k, want := range map[OpKind]string{OpPut: "put", OpGet: "get", OpDelete: "delete", OpCAS: "cas", 0: "OpKind(0)", 9: "OpKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("OpKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
