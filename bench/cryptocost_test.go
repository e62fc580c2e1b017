package bench

import (
	"testing"
	"time"
)

func TestCryptoCostPerOp(t *testing.T) {
	c := CryptoCost{SignMicros: 20, VerifyMicros: 50}
	got := c.PerOp(3000, 9000, 1000)
	want := CryptoCost{SignMicros: 20, VerifyMicros: 50, SignsPerOp: 3, VerifiesPerOp: 9}
	if got != want {
		t.Errorf("PerOp = %+v, want %+v", got, want)
	}
	if got := got.PerOp(10, 10, 0); got.SignsPerOp != 0 || got.VerifiesPerOp != 0 || got.SignMicros != 20 {
		t.Errorf("PerOp without ops = %+v, want the costs kept and no counts", got)
	}
}

func TestMeasureCrypto(t *testing.T) {
	c := MeasureCrypto(10 * time.Millisecond)
	if c.SignMicros <= 0 || c.VerifyMicros <= 0 {
		t.Errorf("MeasureCrypto = %+v, want positive costs", c)
	}
	if c.SignsPerOp != 0 || c.VerifiesPerOp != 0 {
		t.Errorf("MeasureCrypto counted operations: %+v", c)
	}
}
