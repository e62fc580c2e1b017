package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	// The heap profile answers "what holds this replica's memory" when its
	// memory metrics say it holds too much; it reveals nothing secret (no key
	// material is on the heap as profile labels), but the address should
	// be as private as the metrics'.
	mux.HandleFunc("/debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) { pprof.Handler("heap").ServeHTTP(w, r) })
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
