package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readPlot(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return data
}

func isSVG(data []byte) bool {
	return bytes.HasPrefix(data, []byte("<?xml")) || bytes.HasPrefix(data, []byte("<svg"))
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func TestWritePlot(t *testing.T) {
	dir := t.TempDir()
	for name, rep := range map[string]*Report{"full": sampleReport(), "empty": {}} {
		svg := filepath.Join(dir, name+".svg")
		if err := WritePlot(svg, rep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if data := readPlot(t, svg); !isSVG(data) {
			t.Errorf("%s: not an SVG: %.40q", name, data)
		}
		png := filepath.Join(dir, name+".PNG")
		if err := WritePlot(png, rep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if data := readPlot(t, png); !bytes.HasPrefix(data, pngMagic) {
			t.Errorf("%s: not a PNG: %.16q", name, data)
		}
	}
	svg := string(readPlot(t, filepath.Join(dir, "full.svg")))
	for _, want := range []string{"throughput", "p99 latency", "view 1"} {
		if !strings.Contains(svg, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
}

func TestWritePlotBadExtension(t *testing.T) {
	for _, name := range []string{"run.pdf", "run", "run.svg.txt"} {
		path := filepath.Join(t.TempDir(), name)
		err := WritePlot(path, sampleReport())
		if err == nil || !strings.Contains(err.Error(), "--plot") || !strings.Contains(err.Error(), name) {
			t.Errorf("WritePlot(%q) = %v, want an error naming --plot and the file", name, err)
		}
		if _, statErr := os.Stat(path); statErr == nil {
			t.Errorf("WritePlot(%q) wrote a file", name)
		}
		if err := WriteSweepPlot(path, "clients", nil); err == nil || !strings.Contains(err.Error(), "--plot") {
			t.Errorf("WriteSweepPlot(%q) = %v, want an error naming --plot", name, err)
		}
		if err := CheckPlotPath(path); err == nil {
			t.Errorf("CheckPlotPath(%q) accepted it", name)
		}
	}
}

func TestCheckPlotPath(t *testing.T) {
	for _, path := range []string{"run.svg", "dir/run.png", "RUN.SVG"} {
		if err := CheckPlotPath(path); err != nil {
			t.Errorf("CheckPlotPath(%q): %v", path, err)
		}
	}
}

func TestWriteSweepPlot(t *testing.T) {
	dir := t.TempDir()
	var pts []SweepPoint
	for i, clients := range []float64{16, 1, 4} {
		rep := sampleReport()
		rep.Throughput = 1000 * clients
		rep.LatencyMS.P50, rep.LatencyMS.P99 = float64(i+1), float64(3*(i+1))
		pts = append(pts, SweepPoint{X: clients, Report: rep})
	}
	for _, name := range []string{"sweep.svg", "sweep.png"} {
		path := filepath.Join(dir, name)
		if err := WriteSweepPlot(path, "clients", pts); err != nil {
			t.Fatal(err)
		}
		data := readPlot(t, path)
		if !isSVG(data) && !bytes.HasPrefix(data, pngMagic) {
			t.Errorf("%s is neither SVG nor PNG", name)
		}
	}

	labelled := []SweepPoint{{X: 0, Label: "ed25519", Report: sampleReport()}, {X: 1, Label: "hmac", Report: sampleReport()}}
	path := filepath.Join(dir, "labelled.svg")
	if err := WriteSweepPlot(path, "signer", labelled); err != nil {
		t.Fatal(err)
	}
	if svg := string(readPlot(t, path)); !strings.Contains(svg, "hmac") || !strings.Contains(svg, "p99") {
		t.Error("labelled sweep plot lacks its tick labels or legend")
	}

	err := WriteSweepPlot(filepath.Join(dir, "x.svg"), "clients", []SweepPoint{{X: 1}})
	if err == nil || !strings.Contains(err.Error(), "no report") {
		t.Errorf("a point without a report: %v", err)
	}
}
