package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
)

// SweepVariables are the variables a sweep can vary, with their default
// values.
var SweepVariables = map[string][]int{
	"replicas": {4, 7, 10},
	"payload":  {0, 1024, 4096},
	"clients":  {1, 16, 64, 256},
}

// Sweep runs base once for each value of variable.
func Sweep(ctx context.Context, base Config, variable string, values []int, progress io.Writer, logger *slog.Logger) ([]SweepPoint, error) {
	if _, ok := SweepVariables[variable]; !ok {
		return nil, fmt.Errorf("--over: %q is not replicas, payload or clients", variable)
	}
	if len(values) == 0 {
		values = SweepVariables[variable]
	}
	var pts []SweepPoint
	for _, v := range values {
		cfg := base
		switch variable {
		case "replicas":
			cfg.Replicas = v
		case "payload":
			cfg.Payload = v
		case "clients":
			cfg.Clients, cfg.ClientHosts = v, 0
		}
		if cfg.DataDir != "" {
			cfg.DataDir = fmt.Sprintf("%s/%s-%d", base.DataDir, variable, v)
		}
		if progress != nil {
			fmt.Fprintf(progress, "sweep: %s = %d\n", variable, v)
		}
		rep, err := Run(ctx, cfg, progress, logger)
		if err != nil {
			return pts, fmt.Errorf("sweep %s = %d: %w", variable, v, err)
		}
		pts = append(pts, SweepPoint{X: float64(v), Label: strconv.Itoa(v), Report: rep})
	}
	return pts, nil
}

// sweepFile is the JSON a sweep writes.
type sweepFile struct {
	Variable string           `json:"variable"`
	Points   []sweepFilePoint `json:"points"`
}

type sweepFilePoint struct {
	Value  float64 `json:"value"`
	Report *Report `json:"report"`
}

// WriteSweepJSON writes every point's full report.
func WriteSweepJSON(path, variable string, pts []SweepPoint) error {
	f := sweepFile{Variable: variable}
	for _, p := range pts {
		f.Points = append(f.Points, sweepFilePoint{Value: p.X, Report: p.Report})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
