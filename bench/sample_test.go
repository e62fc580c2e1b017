package bench

import (
	"strings"
	"testing"
)

func TestProcessUsageFromMetricsText(t *testing.T) {
	text := `# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 1e+06
# TYPE bulwark_crypto_signatures_total counter
bulwark_crypto_signatures_total 300
# TYPE bulwark_crypto_verifications_total counter
bulwark_crypto_verifications_total 900
# TYPE bulwark_view gauge
bulwark_view{replica="2"} 3
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	u := processUsage(m)
	if u != (usage{cpuSeconds: 12.5, allocBytes: 1e6, signs: 300, verifies: 900}) {
		t.Fatalf("usage = %+v", u)
	}
	if m["bulwark_view"] != 3 {
		t.Fatalf("view = %v", m["bulwark_view"])
	}
	d := u.minus(usage{cpuSeconds: 2.5, allocBytes: 0, signs: 100, verifies: 400})
	if d != (usage{10, 1e6, 200, 500}) {
		t.Fatalf("delta = %+v", d)
	}
	if _, err := parseMetrics(strings.NewReader("garbage{{{")); err == nil {
		t.Fatal("garbage parsed")
	}
}
