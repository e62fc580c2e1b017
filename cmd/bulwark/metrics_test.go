package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/internal/testnet"
)

// TestReplicaMetrics runs four replica commands over loopback, one of them
// with --metrics, and scrapes it after an operation executed.
func TestReplicaMetrics(t *testing.T) {
	ports, err := testnet.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	path, ctx, stop := startReplicas(t, map[int][]string{0: {"--metrics", metricsAddr}})
	if out, err := run(ctx, "client", "--cluster", path, "--timeout", "20s", "put", "k", "v"); err != nil || out != "ok\n" {
		t.Fatalf("client put: %q, %v", out, err)
	}
	lastExecuted := regexp.MustCompile(`(?m)^bulwark_last_executed\{replica="0"\} (\S+)$`)
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + metricsAddr + "/metrics"
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		body = testnet.Scrape(client, url)
		if m := lastExecuted.FindStringSubmatch(body); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil && v >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bulwark_last_executed >= 1 on %s; last scrape:\n%s", url, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{
		`bulwark_executed_requests_total{replica="0"} 1`,
		`bulwark_batch_size_count{replica="0"} 1`,
		`bulwark_commit_latency_seconds_count{replica="0"} 1`,
		`bulwark_network_connected_peers{replica="0"}`,
		`bulwark_network_messages_dropped_total{reason="queue_full",replica="0"}`,
		`bulwark_messages_dropped_total{reason="bad signature",replica="0"}`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	// Stopping the replica shuts its metrics server down.
	stop()
	if _, err := client.Get(url); err == nil {
		t.Fatal("metrics still served after the replica stopped")
	}
}
