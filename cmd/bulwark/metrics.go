package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bulwark-bft/bulwark/network"
)

// metricsServer serves a registry on /metrics.
type metricsServer struct {
	srv  *http.Server
	done chan error
}

// serveMetrics listens on addr and serves reg's metrics on /metrics until
// stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, logger *slog.Logger) (*metricsServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(l) }()
	logger.Info("serving metrics", "addr", l.Addr().String())
	return s, nil
}

// stop shuts the server down, waiting a few seconds for scrapes in flight.
func (s *metricsServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// networkCollector exports a replica host's network counters, read at
// scrape time.
type networkCollector struct {
	host                                           *network.ReplicaHost
	sent, received, dropped, connected, clientStrm *prometheus.Desc
}

func newNetworkCollector(host *network.ReplicaHost, replica uint32) *networkCollector {
	labels := prometheus.Labels{"replica": strconv.FormatUint(uint64(replica), 10)}
	desc := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("bulwark", "network", name), help, vars, labels)
	}
	return &networkCollector{
		host:       host,
		sent:       desc("frames_sent_total", "Frames written to streams."),
		received:   desc("messages_received_total", "Messages delivered to the replica."),
		dropped:    desc("messages_dropped_total", "Messages the network layer dropped, by reason.", "reason"),
		connected:  desc("connected_peers", "Replicas with an open outbound stream."),
		clientStrm: desc("client_streams", "Open client streams."),
	}
}

func (c *networkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sent
	ch <- c.received
	ch <- c.dropped
	ch <- c.connected
	ch <- c.clientStrm
}

func (c *networkCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.host.Stats()
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.Received))
	for reason, n := range s.Dropped {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), string(reason))
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, float64(len(s.Connected)))
	ch <- prometheus.MustNewConstMetric(c.clientStrm, prometheus.GaugeValue, float64(s.ClientStreams))
}
