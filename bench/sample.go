package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bulwark-bft/bulwark/crypto"
)

// usage is what a run spends: CPU, allocation and signature work. Samples
// taken at the start and end of the measured phase are subtracted.
type usage struct {
	cpuSeconds float64
	allocBytes float64
	signs      float64
	verifies   float64
}

func (u usage) plus(o usage) usage {
	return usage{u.cpuSeconds + o.cpuSeconds, u.allocBytes + o.allocBytes, u.signs + o.signs, u.verifies + o.verifies}
}

func (u usage) minus(o usage) usage {
	return usage{u.cpuSeconds - o.cpuSeconds, u.allocBytes - o.allocBytes, u.signs - o.signs, u.verifies - o.verifies}
}

// localUsage is this process's usage: with in-process replicas, that of the
// whole cluster and its clients.
func localUsage() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s, v := crypto.Counts()
	return usage{
		cpuSeconds: tvSeconds(ru.Utime) + tvSeconds(ru.Stime),
		allocBytes: float64(ms.TotalAlloc),
		signs:      float64(s), verifies: float64(v),
	}
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// families sums each metric family's samples over its label sets: a
// replica's metrics carry only its own replica label, so a sum is the value.
func families(mfs map[string]*dto.MetricFamily) map[string]float64 {
	out := make(map[string]float64, len(mfs))
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[name] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// scrape reads a replica process's metrics endpoint.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return families(mfs), nil
}

// processUsage is a replica process's usage, read off its metrics.
func processUsage(m map[string]float64) usage {
	return usage{
		cpuSeconds: m["process_cpu_seconds_total"],
		allocBytes: m["go_memstats_alloc_bytes_total"],
		signs:      m["bulwark_crypto_signatures_total"],
		verifies:   m["bulwark_crypto_verifications_total"],
	}
}
