package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// OpFigures are the measured phase's figures for one kind of operation.
type OpFigures struct {
	Ops        int64       `json:"ops"`
	Errors     int64       `json:"errors"`
	Throughput float64     `json:"throughput"` // successful ops/s
	LatencyMS  Percentiles `json:"latency_ms"` // successful ops
}

// kindTally is what a Recorder counts of one kind of operation in the
// measured phase.
type kindTally struct {
	ops, errs int64
	latency   *hdrhistogram.Histogram // successful operations
}

// figures are the tally's figures over a measured phase of d.
func (k *kindTally) figures(d time.Duration) OpFigures {
	f := OpFigures{Ops: k.ops, Errors: k.errs, LatencyMS: percentiles(k.latency)}
	if d > 0 {
		f.Throughput = float64(k.ops) / d.Seconds()
	}
	return f
}
