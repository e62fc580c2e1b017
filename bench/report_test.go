package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sampleReport is a report with every part filled, as after a run with a
// killed primary.
func sampleReport() *Report {
	return &Report{
		Throughput:  21345.4,
		LatencyMS:   Percentiles{P50: 1.234, P90: 2.5, P99: 14.2, P999: 31.7, Max: 1250, Mean: 1.6},
		Ops:         640350,
		Errors:      3,
		ViewChanges: 1,
		Config:      map[string]any{"replicas": 4, "clients": 16},
		Series: []Second{
			{T: 0, Ops: 21000, Throughput: 21000, P50: 1.2, P99: 3.1},
			{T: 1, Ops: 9000, Errors: 3, Throughput: 9000, P50: 1.3, P99: 900},
			{T: 2, Ops: 20500, Throughput: 20500, P50: 1.2, P99: 3.4},
		},
		Events: []Event{
			{AtS: 1.2, What: "kill-primary: replica 0 killed"},
			{AtS: 1.9, What: "view 1"},
		},
		CPUSeconds:      45.2,
		AllocBytesPerOp: 1234.4,
		Crypto:          CryptoCost{SignMicros: 18.3, VerifyMicros: 45.1, SignsPerOp: 4.2, VerifiesPerOp: 12.6},
		Recovery:        &Recovery{FaultAt: 1.2, FirstCommitMS: 712, Back80MS: 1300, PreFaultOpsPerSec: 21000},
		Machine:         Machine{GOOS: "linux", GOARCH: "amd64", GoVersion: "go1.26", NumCPU: 2, Hostname: "bench-host", Time: "2026-01-02T03:04:05Z"},
		DurationS:       30,
		WarmupOps:       5120,
	}
}

func TestReportJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := sampleReport().WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("report file mode %v, want at most 0644", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, k := range []string{"throughput", "latency_ms", "ops", "errors", "view_changes", "config", "series",
		"events", "cpu_seconds", "alloc_bytes_per_op", "crypto", "recovery", "machine", "unreplicated", "duration_s", "warmup_ops"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	lat, _ := m["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_ms has no number %q: %v", k, lat)
		}
	}
	if m["throughput"] != 21345.4 || m["ops"] != 640350.0 || m["view_changes"] != 1.0 {
		t.Errorf("throughput %v, ops %v, view changes %v", m["throughput"], m["ops"], m["view_changes"])
	}
	if cfg, _ := m["config"].(map[string]any); cfg["replicas"] != 4.0 {
		t.Errorf("config %v", m["config"])
	}
	if series, _ := m["series"].([]any); len(series) != 3 {
		t.Errorf("series %v", m["series"])
	}
	mach, _ := m["machine"].(map[string]any)
	if mach["go_version"] != "go1.26" || mach["num_cpu"] != 2.0 {
		t.Errorf("machine %v, want snake_case fields", mach)
	}
}

func TestReportJSONEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := (&Report{}).WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, `"series": []`) || !strings.Contains(s, `"events": []`) || strings.Contains(s, `"recovery"`) {
		t.Errorf("empty report:\n%s", s)
	}
	if strings.Contains(s, `"reads"`) || strings.Contains(s, `"writes"`) {
		t.Errorf("a report without reads has a read or write section:\n%s", s)
	}
	if err := (&Report{}).WriteJSON(filepath.Join(t.TempDir(), "missing", "r.json")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestReportTable(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, want := range []string{
		"21,345 ops/s", "30.0 s", "5,120 warm-up ops",
		"p50 1.23", "p90 2.50", "p99 14.2", "p99.9 31.7", "max 1,250 ms", "mean 1.60 ms",
		"640,350", "view changes  1", "45.2 s (70.6 µs/op)", "1,234 B/op",
		"sign 18.3 µs, verify 45.1 µs", "4.20 signs and 12.60 verifies per op",
		"fault at 1.2 s: first commit in a higher view after 712 ms; back to 80% of 21,000 ops/s after 1,300 ms",
		"1.20 s  kill-primary: replica 0 killed", "1.90 s  view 1",
		"linux/amd64, 2 CPUs, go1.26, bench-host",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	rep := sampleReport()
	rep.Recovery = &Recovery{FaultAt: 3, FirstCommitMS: -1, Back80MS: -1}
	rep.Crypto = CryptoCost{}
	rep.Unreplicated = true
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unreplicated baseline", "higher view none", "never", "signatures    not measured"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// readReport is sampleReport of a run with reads.
func readReport() *Report {
	rep := sampleReport()
	rep.Reads = &OpFigures{Ops: 576315, Errors: 1, Throughput: 19210.4,
		LatencyMS: Percentiles{P50: 0.412, P90: 0.8, P99: 3.05, P999: 9.1, Max: 120, Mean: 0.5}}
	rep.Writes = &OpFigures{Ops: 64035, Errors: 2, Throughput: 2134.4,
		LatencyMS: Percentiles{P50: 4.12, P90: 6, P99: 21.5, P999: 40, Max: 1250, Mean: 4.5}}
	return rep
}

func TestReportTableWithReads(t *testing.T) {
	var b strings.Builder
	if err := readReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "reads ") })
	if i < 1 || i+1 >= len(lines) || !strings.HasPrefix(lines[i-1], "latency ") || !strings.HasPrefix(lines[i+1], "writes ") {
		t.Fatalf("want the reads and writes rows under the latency row:\n%s", b.String())
	}
	for _, want := range []string{
		"19,210 ops/s, p50 0.412  p90 0.800  p99 3.05  p99.9 9.10  max 120 ms  (mean 0.500 ms); ops 576,315, errors 1",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("reads row lacks %q:\n%s", want, lines[i])
		}
	}
	if want := "2,134 ops/s, p50 4.12  p90 6.00  p99 21.5  p99.9 40.0  max 1,250 ms  (mean 4.50 ms); ops 64,035, errors 2"; !strings.Contains(lines[i+1], want) {
		t.Errorf("writes row lacks %q:\n%s", want, lines[i+1])
	}
	// The total keeps its rows.
	if !strings.Contains(b.String(), "21,345 ops/s") || !strings.Contains(b.String(), "p50 1.23") {
		t.Errorf("total rows missing:\n%s", b.String())
	}

	b.Reset()
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "reads ") || strings.Contains(b.String(), "writes ") {
		t.Errorf("a run without reads has a read or write row:\n%s", b.String())
	}
}

// reportJSON is rep as WriteJSON writes it, decoded.
func reportJSON(t *testing.T, rep *Report) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReportJSONWithReads(t *testing.T) {
	m := reportJSON(t, readReport())
	if m["throughput"] != 21345.4 || m["ops"] != 640350.0 {
		t.Errorf("total throughput %v, ops %v", m["throughput"], m["ops"])
	}
	for kind, want := range map[string][4]float64{"reads": {19210.4, 576315, 1, 0.412}, "writes": {2134.4, 64035, 2, 4.12}} {
		f, _ := m[kind].(map[string]any)
		lat, _ := f["latency_ms"].(map[string]any)
		if f["throughput"] != want[0] || f["ops"] != want[1] || f["errors"] != want[2] || lat["p50"] != want[3] {
			t.Errorf("%s = %v, want throughput %v, ops %v, errors %v, p50 %v", kind, f, want[0], want[1], want[2], want[3])
		}
		if _, ok := lat["p99"].(float64); !ok {
			t.Errorf("%s latency has no p99: %v", kind, lat)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
