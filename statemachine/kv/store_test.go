package kv

import (
	"bytes"
	"errors"
	"github.com/bulwark-bft/bulwark/statemachine"
	"strings"
	"testing"
)

// step is one op applied in its own batch, with the decoded result expected.
type step struct {
	op   []byte
	want Result
}

var (
	k  = []byte("k")
	v1 = []byte("v1")
	v2 = []byte("v2")
)

func TestStoreSemantics(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"get absent", []step{
			{EncodeGet(k), Result{Status: StatusNotFound}},
		}},
		{"put then get", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v1}},
		}},
		{"put overwrites", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodePut(k, v2), Result{Status: StatusOK}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v2}},
		}},
		{"empty value is present", []step{
			{EncodePut(k, nil), Result{Status: StatusOK}},
			{EncodeGet(k), Result{Status: StatusOK, Value: []byte{}}},
		}},
		{"delete present", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodeDelete(k), Result{Status: StatusOK}},
			{EncodeGet(k), Result{Status: StatusNotFound}},
		}},
		{"delete absent is idempotent", []step{
			{EncodeDelete(k), Result{Status: StatusOK}},
			{EncodeDelete(k), Result{Status: StatusOK}},
		}},
		{"cas absent key with empty old swaps", []step{
			{EncodeCAS(k, nil, v1), Result{Status: StatusSwapped}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v1}},
		}},
		{"cas present key with empty old is unchanged", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodeCAS(k, nil, v2), Result{Status: StatusUnchanged, Value: v1}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v1}},
		}},
		{"cas matching old swaps", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodeCAS(k, v1, v2), Result{Status: StatusSwapped}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v2}},
		}},
		{"cas wrong old is unchanged", []step{
			{EncodePut(k, v1), Result{Status: StatusOK}},
			{EncodeCAS(k, []byte("other"), v2), Result{Status: StatusUnchanged, Value: v1}},
			{EncodeGet(k), Result{Status: StatusOK, Value: v1}},
		}},
		{"cas absent key with non-empty old is unchanged", []step{
			{EncodeCAS(k, v1, v2), Result{Status: StatusUnchanged}},
			{EncodeGet(k), Result{Status: StatusNotFound}},
		}},
		{"cas never matches a present empty value", []step{
			{EncodePut(k, nil), Result{Status: StatusOK}},
			{EncodeCAS(k, nil, v1), Result{Status: StatusUnchanged, Value: []byte{}}},
		}},
		{"keys are independent", []step{
			{EncodePut([]byte("a"), v1), Result{Status: StatusOK}},
			{EncodeGet([]byte("b")), Result{Status: StatusNotFound}},
		}},
		{"malformed op", []step{
			{[]byte{0xee}, Result{Status: StatusError}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for i, st := range tt.steps {
				got := decodeOne(t, s.Apply(uint64(i+1), statemachine.Anonymous(st.op)))
				checkResult(t, i, got, st.want)
			}
		})
	}
}

func decodeOne(t *testing.T, res [][]byte) Result {
	t.Helper()
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	r, err := DecodeResult(res[0])
	if err != nil {
		t.Fatalf("DecodeResult: %v", err)
	}
	return r
}

// checkResult compares status and value exactly (nil vs empty included); for
// errors only the presence of a message is checked.
func checkResult(t *testing.T, i int, got, want Result) {
	t.Helper()
	if got.Status != want.Status || !bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) {
		t.Fatalf("step %d: got %+v, want %+v", i, got, want)
	}
	if (got.Status == StatusError) != (got.Err != "") {
		t.Fatalf("step %d: Err %q does not match status %v", i, got.Err, got.Status)
	}
}

// TestApplyOrderedWithinBatch checks that reads in a batch see earlier writes
// of the same batch and that results keep op order.
func TestApplyOrderedWithinBatch(t *testing.T) {
	s := New()
	res := s.Apply(1, statemachine.Anonymous(
		EncodeGet(k),
		EncodePut(k, v1),
		EncodeGet(k),
		[]byte("garbage"),
		EncodeCAS(k, v1, v2),
		EncodeDelete(k),
		EncodeGet(k),
	))
	want := []Result{
		{Status: StatusNotFound},
		{Status: StatusOK},
		{Status: StatusOK, Value: v1},
		{Status: StatusError},
		{Status: StatusSwapped},
		{Status: StatusOK},
		{Status: StatusNotFound},
	}
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d", len(res), len(want))
	}
	for i := range want {
		got, err := DecodeResult(res[i])
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		checkResult(t, i, got, want[i])
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name    string
		op      []byte
		wantErr bool
		errText string
	}{
		{"key at limit", EncodePut(make([]byte, MaxKeySize), v1), false, ""},
		{"key over limit", EncodePut(make([]byte, MaxKeySize+1), v1), true, "key too large"},
		{"value at limit", EncodePut(k, make([]byte, MaxValueSize)), false, ""},
		{"value over limit", EncodePut(k, make([]byte, MaxValueSize+1)), true, "value too large"},
		{"cas old over limit", EncodeCAS(k, make([]byte, MaxValueSize+1), v1), true, "value too large"},
		{"get key over limit", EncodeGet(make([]byte, MaxKeySize+1)), true, "key too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			before := s.Digest()
			got := decodeOne(t, s.Apply(1, statemachine.Anonymous(tt.op)))
			if (got.Status == StatusError) != tt.wantErr || !strings.Contains(got.Err, tt.errText) {
				t.Fatalf("got %v %q, want error=%v containing %q", got.Status, got.Err, tt.wantErr, tt.errText)
			}
			if tt.wantErr && s.Digest() != before {
				t.Fatal("rejected op changed the state")
			}
		})
	}
}

func TestQuery(t *testing.T) {
	s := New()
	s.Apply(1, statemachine.Anonymous(EncodePut(k, v1)))
	before := s.Digest()

	b, err := s.Query(nil, EncodeGet(k))
	if err != nil {
		t.Fatalf("Query(get): %v", err)
	}
	if r, err := DecodeResult(b); err != nil || r.Status != StatusOK || !bytes.Equal(r.Value, v1) {
		t.Fatalf("Query(get) = %+v, %v", r, err)
	}
	b, err = s.Query(nil, EncodeGet([]byte("absent")))
	if r, _ := DecodeResult(b); err != nil || r.Status != StatusNotFound {
		t.Fatalf("Query(get absent) = %+v, %v", r, err)
	}

	for _, tt := range []struct {
		name string
		op   []byte
		want error
	}{
		{"put", EncodePut(k, v2), ErrNotReadOnly},
		{"delete", EncodeDelete(k), ErrNotReadOnly},
		{"cas", EncodeCAS(k, v1, v2), ErrNotReadOnly},
		{"malformed", []byte{byte(OpGet), 1}, ErrMalformedOp},
		{"oversized", EncodeGet(make([]byte, MaxKeySize+1)), ErrKeyTooLarge},
	} {
		if _, err := s.Query(nil, tt.op); !errors.Is(err, tt.want) {
			t.Errorf("Query(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
	if s.Digest() != before {
		t.Fatal("Query changed the state")
	}
}

// TestApplyCopiesValues guards against the store aliasing op buffers, which
// the replica reuses.
func TestApplyCopiesValues(t *testing.T) {
	s := New()
	op := EncodePut(k, []byte("value"))
	s.Apply(1, statemachine.Anonymous(op))
	for i := range op {
		op[i] = 0
	}
	got := decodeOne(t, s.Apply(2, statemachine.Anonymous(EncodeGet(k))))
	if string(got.Value) != "value" {
		t.Fatalf("value after scribbling on the op = %q, want %q", got.Value, "value")
	}
}
