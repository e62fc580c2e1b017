package kv

import (
	"errors"
	"fmt"
)

// maxErrSize bounds the error message carried in a result. EncodeResult
// truncates longer messages so every encoded result is decodable.
const maxErrSize = 1 << 10

// ErrMalformedResult reports a result that does not follow the encoding.
var ErrMalformedResult = errors.New("kv: malformed result")

// Status is the outcome of an operation. The zero value is not a valid
// status, so an uninitialised Result never decodes as success.
type Status uint8

// Statuses.
const (
	StatusOK        Status = iota + 1 // put, delete, or get of a present key
	StatusNotFound                    // get of an absent key
	StatusSwapped                     // cas matched and wrote the new value
	StatusUnchanged                   // cas did not match; Value holds the current value
	StatusError                       // malformed or oversized op; Err says why
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNotFound:
		return "not found"
	case StatusSwapped:
		return "swapped"
	case StatusUnchanged:
		return "unchanged"
	case StatusError:
		return "error"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Result is the reply to one operation.
type Result struct {
	Status Status
	// Value is the value for a successful get, and the current value (nil if
	// absent) for an unchanged cas. nil and empty are encoded distinctly.
	Value []byte
	// Err is the error message for StatusError; it is not encoded otherwise.
	Err string
}

// flagValue marks that a value field follows the flags byte.
const flagValue = 1 << 0

// EncodeResult encodes r. Err is carried only for StatusError and is
// truncated to maxErrSize bytes.
func EncodeResult(r Result) []byte {
	return appendResult(make([]byte, 0, encodedSize(r)), r)
}

func errMessage(r Result) string {
	if len(r.Err) > maxErrSize {
		return r.Err[:maxErrSize]
	}
	return r.Err
}

func encodedSize(r Result) int {
	n := 2
	if r.Value != nil {
		n += lenSize + len(r.Value)
	}
	if r.Status == StatusError {
		n += lenSize + len(errMessage(r))
	}
	return n
}

// appendResult appends the encoding of r to dst.
func appendResult(dst []byte, r Result) []byte {
	var flags byte
	if r.Value != nil {
		flags |= flagValue
	}
	dst = append(dst, byte(r.Status), flags)
	if r.Value != nil {
		dst = appendField(dst, r.Value)
	}
	if r.Status == StatusError {
		dst = appendField(dst, []byte(errMessage(r)))
	}
	return dst
}

// DecodeResult parses a result. Unlike DecodeOp it copies, because a client
// typically keeps the result after reusing its receive buffer. Errors wrap
// ErrMalformedResult.
func DecodeResult(b []byte) (Result, error) {
	r := reader{b: b, malformed: ErrMalformedResult}
	st, err := r.readByte("status")
	if err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	res := Result{Status: Status(st)}
	if res.Status < StatusOK || res.Status > StatusError {
		return Result{}, fmt.Errorf("decode result: %w: unknown status %d", ErrMalformedResult, st)
	}
	flags, err := r.readByte("flags")
	if err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	if flags&^flagValue != 0 {
		return Result{}, fmt.Errorf("decode result: %w: unknown flags %#02x", ErrMalformedResult, flags)
	}
	if flags&flagValue != 0 {
		v, err := r.field("value", MaxValueSize, ErrMalformedResult)
		if err != nil {
			return Result{}, fmt.Errorf("decode result: %w", err)
		}
		res.Value = append(make([]byte, 0, len(v)), v...) // non-nil even when empty
	}
	if res.Status == StatusError {
		e, err := r.field("error", maxErrSize, ErrMalformedResult)
		if err != nil {
			return Result{}, fmt.Errorf("decode result: %w", err)
		}
		res.Err = string(e)
	}
	if err := r.end(); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	return res, nil
}
