package driver_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bulwark-bft/bulwark/internal/driver"
)

// gathered reads one unlabelled-but-for-replica metric from reg: a gauge's or
// counter's value, or a histogram's sample count.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			sum += value(f.GetType(), m)
		}
		return sum
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// TestMetrics runs operations through four drivers with metrics and checks
// what each replica's registry reports.
func TestMetrics(t *testing.T) {
	const n, ops = 4, 300
	regs := make([]*prometheus.Registry, n)
	metrics := make([]*driver.Metrics, n)
	for i := range n {
		regs[i] = prometheus.NewRegistry()
		m, err := driver.NewMetrics(regs[i], uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		metrics[i] = m
	}
	if _, err := driver.NewMetrics(regs[0], 0); err == nil {
		t.Fatal("registering the same metrics twice succeeded")
	}
	c := newClusterWithMetrics(t, n, 50, metrics)
	c.run(ops, 8, "m")
	c.converge(30 * time.Second)
	for i, reg := range regs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := c.status(i)
			last := gathered(t, reg, "bulwark_last_executed")
			stable := gathered(t, reg, "bulwark_stable_checkpoint")
			if last == float64(st.LastExecuted) && stable == float64(st.StableCheckpoint) && last > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d: last_executed %v stable_checkpoint %v, status %d %d", i, last, stable, st.LastExecuted, st.StableCheckpoint)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := gathered(t, reg, "bulwark_executed_requests_total"); got != ops {
			t.Errorf("replica %d: executed_requests_total %v, want %d", i, got, ops)
		}
		batches := gathered(t, reg, "bulwark_executed_batches_total")
		if batches == 0 || batches != gathered(t, reg, "bulwark_batch_size") {
			t.Errorf("replica %d: executed_batches_total %v, batch_size count %v", i, batches, gathered(t, reg, "bulwark_batch_size"))
		}
		// Per batch a replica syncs its pre-prepare or prepare and its
		// commit with the prepared certificate; the committed batch rides
		// with the next of those. Each stable checkpoint adds its own
		// checkpoint record, the held-back writes before the snapshot, the
		// snapshot and the deletion below it.
		synced := gathered(t, reg, "bulwark_store_synced_writes_total")
		checkpoints := float64(c.status(i).StableCheckpoint/50 + 1)
		if synced == 0 || synced > 2*batches+4*checkpoints {
			t.Errorf("replica %d: %v synced store writes for %v batches and %v checkpoints, want at most 2 a batch and 4 a checkpoint", i, synced, batches, checkpoints)
		}
		t.Logf("replica %d: %v synced store writes, %v batches, %v checkpoints", i, synced, batches, checkpoints)
		if got := gathered(t, reg, "bulwark_commit_latency_seconds"); got == 0 || got > ops {
			t.Errorf("replica %d: commit_latency_seconds count %v, want 1..%d", i, got, ops)
		}
		if got := gathered(t, reg, "bulwark_view"); got != 0 {
			t.Errorf("replica %d: view %v", i, got)
		}
		if got := gathered(t, reg, "bulwark_view_changes_total"); got != 0 {
			t.Errorf("replica %d: view_changes_total %v", i, got)
		}
		gathered(t, reg, "bulwark_messages_dropped_total") // every reason exported, zero or not
	}
}
