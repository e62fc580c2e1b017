package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run found, as the final table and as --json.
type Report struct {
	Throughput      float64     `json:"throughput"`
	LatencyMS       Percentiles `json:"latency_ms"`
	Ops             int64       `json:"ops"`
	Errors          int64       `json:"errors"`
	ViewChanges     uint64      `json:"view_changes"`
	Config          any         `json:"config"` // the run's full configuration, so a result can be reproduced
	Series          []Second    `json:"series"`
	Events          []Event     `json:"events"`
	CPUSeconds      float64     `json:"cpu_seconds"`
	AllocBytesPerOp float64     `json:"alloc_bytes_per_op"`
	Crypto          CryptoCost  `json:"crypto"`
	Recovery        *Recovery   `json:"recovery,omitempty"`
	Machine         Machine     `json:"machine"`
	Unreplicated    bool        `json:"unreplicated"`
	DurationS       float64     `json:"duration_s"`
	WarmupOps       int64       `json:"warmup_ops"`
	// Attacks are the client attacks of the run (flood-client, ...):
	// Throughput and LatencyMS are the legitimate clients' alone.
	Attacks []AttackReport `json:"attacks,omitempty"`
	// Baseline is the fault-free run a run with client attacks is compared
	// with (see Run).
	Baseline *Baseline `json:"baseline,omitempty"`
	// PrimaryReplacedAtS, in a run with a slow primary, is when the first
	// operation of a later view completed, in seconds from the start of
	// the run (warm-up included); -1 if the slow primary was never
	// replaced.
	PrimaryReplacedAtS float64 `json:"primary_replaced_at_s,omitempty"`
	// Reads and Writes split Throughput, LatencyMS, Ops and Errors between
	// the linearizable reads (Client.Read) and the ordered writes
	// (Client.Do) of a run with reads (Config.Reads > 0); absent otherwise.
	// A read that fell back to ordering counts as a read, with its latency:
	// the client does not say which did.
	Reads  *OpFigures `json:"reads,omitempty"`
	Writes *OpFigures `json:"writes,omitempty"`
}

// BaselineRatio is the legitimate throughput under attack as a fraction of
// the fault-free run's, or -1 without a fault-free run.
func (r *Report) BaselineRatio() float64 {
	if r.Baseline == nil || r.Baseline.Throughput <= 0 {
		return -1
	}
	return r.Throughput / r.Baseline.Throughput
}

// Event is something that happened during the run, such as a fault injected
// or a view change seen.
type Event struct {
	AtS  float64 `json:"at_s"` // seconds into the measured phase
	What string  `json:"what"`
}

// Machine says where a run ran: figures from different machines do not
// compare.
type Machine struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	NumCPU    int    `json:"num_cpu"`
	Hostname  string `json:"hostname"`
	Time      string `json:"time"` // RFC 3339
}

// CurrentMachine describes this machine now. A hostname that cannot be read
// is left empty: it labels the run, nothing depends on it.
func CurrentMachine() Machine {
	host, _ := os.Hostname()
	return Machine{
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		GoVersion: runtime.Version(),
		NumCPU:    runtime.NumCPU(),
		Hostname:  host,
		Time:      time.Now().Format(time.RFC3339),
	}
}

// WriteTable writes the report as a table for people to read.
func (r *Report) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", name, fmt.Sprintf(format, args...))
	}
	if r.Unreplicated {
		row("mode", "unreplicated baseline: the service alone, no agreement")
	}
	legit := ""
	if len(r.Attacks) > 0 {
		legit = "legitimate clients: "
	}
	row("throughput", "%s%s ops/s over %.1f s (%s warm-up ops not counted)",
		legit, thousands(round(r.Throughput)), r.DurationS, thousands(r.WarmupOps))
	row("latency", "%s", r.LatencyMS.describe())
	// Reads and writes go side by side, each on the total's pattern.
	for _, k := range []struct {
		name string
		f    *OpFigures
	}{{"reads", r.Reads}, {"writes", r.Writes}} {
		if k.f != nil {
			row(k.name, "%s ops/s, %s; ops %s, errors %s",
				thousands(round(k.f.Throughput)), k.f.LatencyMS.describe(), thousands(k.f.Ops), thousands(k.f.Errors))
		}
	}
	if b := r.Baseline; b != nil {
		row("fault-free run", "%s ops/s, p50 %s  p99 %s ms, %s errors (same configuration without the client attacks and the slow primary)",
			thousands(round(b.Throughput)), millis(b.LatencyMS.P50), millis(b.LatencyMS.P99), thousands(b.Errors))
		if ratio := r.BaselineRatio(); ratio >= 0 {
			label := "under attack"
			if len(r.Attacks) == 0 {
				label = "slow primary run"
			}
			row(label, "%.1f%% of the fault-free throughput", 100*ratio)
		}
	}
	switch t := r.PrimaryReplacedAtS; {
	case t > 0:
		row("slow primary", "replaced: the first operation of a later view completed %.2f s after the start of the run (warm-up included)", t)
	case t < 0:
		row("slow primary", "never replaced")
	}
	for _, a := range r.Attacks {
		row("attack", "%s from %.1f s to %.1f s: %s; %s", a.Spec, a.FromS, a.ToS,
			describeAttack(a.Kind, AttackOptions{Sessions: a.Sessions, Size: a.Size, Keys: a.Keys, Targets: a.Targets}),
			a.describeDone())
	}
	row("ops", "%s", thousands(r.Ops))
	row("errors", "%s", thousands(r.Errors))
	row("view changes", "%d", r.ViewChanges)
	attack := ""
	if len(r.Attacks) > 0 {
		attack = " (the attack's work included, per legitimate op)"
	}
	row("CPU", "%.1f s%s%s", r.CPUSeconds, perOp(r.CPUSeconds*1e6, r.Ops, "µs"), attack)
	row("allocated", "%s B/op%s", thousands(round(r.AllocBytesPerOp)), attack)
	row("signatures", "%s%s", r.Crypto.describe(), attack)
	if rec := r.Recovery; rec != nil {
		row("recovery", "%s", rec.describe())
	}
	for i, e := range r.Events {
		name := ""
		if i == 0 {
			name = "events"
		}
		row(name, "%.2f s  %s", e.AtS, e.What)
	}
	m := r.Machine
	row("machine", "%s/%s, %d CPUs, %s, %s, %s", m.GOOS, m.GOARCH, m.NumCPU, m.GoVersion, m.Hostname, m.Time)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: report table: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("bench: write report table: %w", err)
	}
	return nil
}

// describe is the percentiles as the table shows them.
func (l Percentiles) describe() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s ms  (mean %s ms)",
		millis(l.P50), millis(l.P90), millis(l.P99), millis(l.P999), millis(l.Max), millis(l.Mean))
}

// perOp is " (X unit/op)" for a total over ops operations, or "" for none.
func perOp(total float64, ops int64, unit string) string {
	if ops <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%s %s/op)", strconv.FormatFloat(total/float64(ops), 'f', 1, 64), unit)
}

func (c CryptoCost) describe() string {
	if c.SignMicros == 0 {
		return "not measured"
	}
	return fmt.Sprintf("sign %.1f µs, verify %.1f µs here; %.2f signs and %.2f verifies per op (about %.0f µs of CPU per op)",
		c.SignMicros, c.VerifyMicros, c.SignsPerOp, c.VerifiesPerOp,
		c.SignsPerOp*c.SignMicros+c.VerifiesPerOp*c.VerifyMicros)
}

func (r *Recovery) describe() string {
	first, back := "none", "never"
	if r.FirstCommitMS >= 0 {
		first = "after " + thousands(round(r.FirstCommitMS)) + " ms"
	}
	if r.Back80MS >= 0 {
		back = "after " + thousands(round(r.Back80MS)) + " ms"
	}
	return fmt.Sprintf("fault at %.1f s: first commit in a higher view %s; back to 80%% of %s ops/s %s",
		r.FaultAt, first, thousands(round(r.PreFaultOpsPerSec)), back)
}

// WriteJSON writes the report to path as indented JSON (mode 0644).
func (r *Report) WriteJSON(path string) error {
	out := *r
	// Empty lists are written as [], so readers need not handle null.
	if out.Series == nil {
		out.Series = []Second{}
	}
	if out.Events == nil {
		out.Events = []Event{}
	}
	data, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// millis formats milliseconds with three significant digits or so, enough to
// compare runs and few enough to read: 0.412, 4.12, 41.2, 412, 4,120.
func millis(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return thousands(round(ms))
}

func round(x float64) int64 { return int64(math.Round(x)) }
