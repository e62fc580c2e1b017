package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Every figure is a column of panels of this size, one above the other and
// sharing their x axis, which reads more easily than two y axes on one plot.
const (
	panelWidth  = 8 * vg.Inch
	panelHeight = 3.2 * vg.Inch
)

var eventColor = color.RGBA{R: 200, G: 40, B: 40, A: 255}

// WritePlot draws a run over time: throughput and p99 latency per second,
// each plotted at the middle of its second, with a vertical line at every
// event, labelled in the throughput panel. The format follows path's
// extension, .svg or .png.
func WritePlot(path string, r *Report) error {
	ops, p99 := make(plotter.XYs, len(r.Series)), make(plotter.XYs, len(r.Series))
	for i, s := range r.Series {
		x := float64(s.T) + 0.5
		ops[i] = plotter.XY{X: x, Y: s.Throughput}
		p99[i] = plotter.XY{X: x, Y: s.P99}
	}
	title := "throughput"
	if r.Unreplicated {
		title += " (unreplicated baseline)"
	}
	top, err := panel(title, "", "ops/s", curve{xys: ops})
	if err != nil {
		return err
	}
	bottom, err := panel("p99 latency", "seconds into the measured phase", "ms", curve{xys: p99})
	if err != nil {
		return err
	}
	end := max(float64(len(r.Series)), r.DurationS)
	for _, e := range r.Events {
		end = max(end, e.AtS)
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Min, p.X.Max = 0, max(end, 1)
		p.X.Tick.Marker = secondTicks{}
		if err := addEvents(p, r.Events, p == top); err != nil {
			return err
		}
	}
	return savePanels(path, top, bottom)
}

// SweepPoint is one run of a sweep: the swept variable's value, how to label
// it on the axis (empty for the number itself), and the run's report.
type SweepPoint struct {
	X      float64
	Label  string
	Report *Report
}

// WriteSweepPlot draws throughput and p50 and p99 latency against the swept
// variable, one point per run, in the order of X.
func WriteSweepPlot(path, variable string, pts []SweepPoint) error {
	pts = slices.Clone(pts)
	slices.SortStableFunc(pts, func(a, b SweepPoint) int { return cmp.Compare(a.X, b.X) })
	ops, p50, p99 := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
	var ticks []plot.Tick
	for i, pt := range pts {
		if pt.Report == nil {
			return fmt.Errorf("bench: sweep plot: the run at %s = %g has no report", variable, pt.X)
		}
		ops[i] = plotter.XY{X: pt.X, Y: pt.Report.Throughput}
		p50[i] = plotter.XY{X: pt.X, Y: pt.Report.LatencyMS.P50}
		p99[i] = plotter.XY{X: pt.X, Y: pt.Report.LatencyMS.P99}
		if pt.Label != "" {
			ticks = append(ticks, plot.Tick{Value: pt.X, Label: pt.Label})
		}
	}
	top, err := panel("throughput against "+variable, "", "ops/s", curve{xys: ops, marks: true})
	if err != nil {
		return err
	}
	bottom, err := panel("latency against "+variable, variable, "ms",
		curve{name: "p50", xys: p50, marks: true}, curve{name: "p99", xys: p99, marks: true})
	if err != nil {
		return err
	}
	if len(ticks) == len(pts) && len(pts) > 0 {
		top.X.Tick.Marker = plot.ConstantTicks(ticks)
		bottom.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	return savePanels(path, top, bottom)
}

// curve is one line of a panel; a named curve gets a legend entry, and one
// with marks a dot at each point (for sweeps, where each is a run).
type curve struct {
	name  string
	xys   plotter.XYs
	marks bool
}

// headroom is how far the y axis reaches above the data, leaving room for the
// legend and the event labels.
const headroom = 1.3

// panel makes one plot of curves, its y axis from 0.
func panel(title, xLabel, yLabel string, curves ...curve) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true

	top := 0.0
	for i, c := range curves {
		line, err := plotter.NewLine(c.xys)
		if err != nil {
			return nil, fmt.Errorf("bench: plot %s: %w", title, err)
		}
		line.Color = plotutil.Color(i)
		p.Add(line)
		if c.marks {
			points, err := plotter.NewScatter(c.xys)
			if err != nil {
				return nil, fmt.Errorf("bench: plot %s: %w", title, err)
			}
			points.Color = plotutil.Color(i)
			points.Radius = vg.Points(2)
			p.Add(points)
		}
		if c.name != "" {
			p.Legend.Add(c.name, line)
		}
		for _, xy := range c.xys {
			top = max(top, xy.Y)
		}
	}
	if top == 0 {
		top = 1 // an empty or all-zero panel still gets an axis
	}
	p.Y.Min, p.Y.Max = 0, top*headroom
	return p, nil
}

// addEvents draws a dashed vertical line at each event, and if label, its
// name beside it, at one of three heights in turn so that the names of
// events close together do not print over each other.
func addEvents(p *plot.Plot, events []Event, label bool) error {
	if len(events) == 0 {
		return nil
	}
	var at plotter.XYLabels
	for i, e := range events {
		line, err := plotter.NewLine(plotter.XYs{{X: e.AtS, Y: 0}, {X: e.AtS, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("bench: plot event %q: %w", e.What, err)
		}
		line.Color = eventColor
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		y := p.Y.Max / headroom * (1.24 - 0.08*float64(i%3))
		at.XYs = append(at.XYs, plotter.XY{X: e.AtS, Y: y})
		at.Labels = append(at.Labels, e.What)
	}
	if !label {
		return nil
	}
	labels, err := plotter.NewLabels(at)
	if err != nil {
		return fmt.Errorf("bench: plot events: %w", err)
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Color = eventColor
	}
	labels.Offset = vg.Point{X: vg.Points(3)}
	p.Add(labels)
	return nil
}

// secondTicks marks a time axis in whole seconds, in steps giving at most
// about ten marks, rather than gonum's default of 2.50, 10.00, 17.50.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	var step float64
	for _, step = range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		if (hi-lo)/step <= 10 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// CheckPlotPath reports whether WritePlot and WriteSweepPlot can write path,
// judging by its extension, so that a bad --plot fails before a run rather
// than after it.
func CheckPlotPath(path string) error {
	_, err := plotFormat(path)
	return err
}

// plotFormat is the gonum format name for path's extension.
func plotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg", ".png":
		return ext[1:], nil
	}
	return "", fmt.Errorf("--plot %q: the file name must end in .svg or .png", path)
}

// savePanels draws the panels in a column, aligned on their axes, and writes
// them to path in the format its extension names.
func savePanels(path string, panels ...*plot.Plot) error {
	format, err := plotFormat(path)
	if err != nil {
		return err
	}
	c, err := draw.NewFormattedCanvas(panelWidth, panelHeight*vg.Length(len(panels)), format)
	if err != nil {
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	pad := vg.Points(8)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad, PadY: 2 * pad}
	for i, cv := range plot.Align(grid, tiles, draw.New(c)) {
		panels[i].Draw(cv[0])
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("bench: render plot %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("bench: write plot: %w", err)
	}
	return nil
}
