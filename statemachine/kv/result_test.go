package kv

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestResultRoundTrip(t *testing.T) {
	tests := []Result{
		{Status: StatusOK},
		{Status: StatusOK, Value: []byte("v")},
		{Status: StatusOK, Value: []byte{}}, // present but empty: must not become nil
		{Status: StatusNotFound},
		{Status: StatusSwapped},
		{Status: StatusUnchanged},                     // absent
		{Status: StatusUnchanged, Value: []byte("c")}, // present
		{Status: StatusError, Err: "boom"},
		{Status: StatusError},
		{Status: StatusOK, Value: bytes.Repeat([]byte{1}, MaxValueSize)},
	}
	for _, want := range tests {
		got, err := DecodeResult(EncodeResult(want))
		if err != nil {
			t.Fatalf("DecodeResult(EncodeResult(%+v)): %v", want, err)
		}
		if got.Status != want.Status || got.Err != want.Err ||
			!bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestEncodeResultDropsAndTruncatesErr(t *testing.T) {
	got, err := DecodeResult(EncodeResult(Result{Status: StatusOK, Err: "ignored"}))
	if err != nil || got.Err != "" {
		t.Fatalf("Err on non-error status: got %+v, %v; want it dropped", got, err)
	}
	long := strings.Repeat("x", maxErrSize+10)
	got, err = DecodeResult(EncodeResult(Result{Status: StatusError, Err: long}))
	if err != nil || got.Err != long[:maxErrSize] {
		t.Fatalf("long Err: got %d bytes, %v; want truncation to %d", len(got.Err), err, maxErrSize)
	}
}

func TestDecodeResultRejects(t *testing.T) {
	valid := EncodeResult(Result{Status: StatusUnchanged, Value: []byte("cur")})
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"status only", []byte{byte(StatusOK)}},
		{"status zero", []byte{0, 0}},
		{"status unknown", []byte{byte(StatusError) + 1, 0}},
		{"unknown flag", []byte{byte(StatusOK), 2}},
		{"error without message", []byte{byte(StatusError), 0}},
		{"trailing byte", append(EncodeResult(Result{Status: StatusOK}), 0)},
		{"value flag without value", []byte{byte(StatusOK), flagValue}},
		{"huge value length", []byte{byte(StatusOK), flagValue, 0xff, 0xff, 0xff, 0xff}},
		{"huge error length", []byte{byte(StatusError), 0, 0xff, 0xff, 0xff, 0xff}},
	}
	for n := range len(valid) {
		tests = append(tests, struct {
			name string
			b    []byte
		}{"truncated", valid[:n]})
	}
	for _, tt := range tests {
		if _, err := DecodeResult(tt.b); !errors.Is(err, ErrMalformedResult) {
			t.Errorf("%s: DecodeResult(%x) error = %v, want ErrMalformedResult", tt.name, tt.b, err)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{
		StatusOK: "ok", StatusNotFound: "not found", StatusSwapped: "swapped",
		StatusUnchanged: "unchanged", StatusError: "error", 0: "Status(0)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}
