package sim

import (
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// runColors tell the runs of a --compare apart.
var runColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

var targetColor = color.Gray{Y: 0x80}

// legendWidth is the strip right of each panel that holds its legend, so
// that no legend covers a curve.
const legendWidth = 2.6 * vg.Inch

// WritePNG draws one column per deployment: replicas and desired, the load
// against the ready capacity, the SLO signal against its target and each
// HPA metric against its target. Runs of a --compare share the panels, one
// colour each, and each run's own targets are drawn in its colour. The time
// axis is in clock time since the start; legends sit beside the panels.
func WritePNG(w io.Writer, runs []*Result) error {
	if len(runs) == 0 || len(runs[0].Deployments) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	cols := len(runs[0].Deployments)
	var grid [][]*plot.Plot
	var legends [][]*plot.Legend
	for c := 0; c < cols; c++ {
		panels, lgs, err := deploymentPanels(runs, c)
		if err != nil {
			return err
		}
		for r, p := range panels {
			for len(grid) <= r {
				grid = append(grid, make([]*plot.Plot, cols))
				legends = append(legends, make([]*plot.Legend, cols))
			}
			grid[r][c] = p
			legends[r][c] = lgs[r]
		}
	}
	width := vg.Length(cols) * (7*vg.Inch + legendWidth)
	height := vg.Length(len(grid)) * 2.2 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	colWidth := width / vg.Length(cols)
	for c := 0; c < cols; c++ {
		// the column's plots, aligned, left of its legend strip
		area := draw.Crop(dc, vg.Length(c)*colWidth, -(vg.Length(cols-c-1)*colWidth + legendWidth), 0, 0)
		column := make([][]*plot.Plot, len(grid))
		for r := range grid {
			column[r] = []*plot.Plot{grid[r][c]}
		}
		tiles := draw.Tiles{Rows: len(grid), Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		canvases := plot.Align(column, tiles, area)
		for r := range grid {
			if grid[r][c] == nil {
				continue
			}
			cv := canvases[r][0]
			grid[r][c].Draw(cv)
			strip := cv
			strip.Min.X, strip.Max.X = cv.Max.X+vg.Millimeter*3, cv.Max.X+legendWidth
			strip.Max.Y -= vg.Millimeter * 6 // below the title line
			legends[r][c].Draw(strip)
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// clockTicks labels a time axis (seconds) in clock time since the start.
type clockTicks struct{}

var tickSteps = []int64{60, 120, 300, 600, 900, 1800, hour, 2 * hour, 3 * hour, 6 * hour, 12 * hour, day, 2 * day, 7 * day}

func (clockTicks) Ticks(lo, hi float64) []plot.Tick {
	span := int64(hi - lo)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	var ticks []plot.Tick
	for t := (int64(lo) + step - 1) / step * step; float64(t) <= hi; t += step {
		ticks = append(ticks, plot.Tick{Value: float64(t), Label: tickLabel(t, step)})
		for m := int64(1); m < 4 && step >= 4*60; m++ { // minor ticks
			if v := t + m*step/4; float64(v) <= hi {
				ticks = append(ticks, plot.Tick{Value: float64(v)})
			}
		}
	}
	return ticks
}

func tickLabel(t, step int64) string {
	switch {
	case step >= day:
		return fmt.Sprintf("day %d", t/day)
	case t >= day:
		return fmt.Sprintf("%dd %02d:%02d", t/day, t%day/hour, t%hour/60)
	default:
		return fmt.Sprintf("%d:%02d", t/hour, t%hour/60)
	}
}

type series struct {
	name   string
	get    func(p *Point) float64
	dashed bool
	// metric, when set, names the HPA metric (MetricInfo.Key) to plot;
	// runs of a --compare may list their metrics in different orders.
	metric string
}

func metricIndex(d *DeploymentResult, key string) int {
	for i, m := range d.Metrics {
		if m.Key == key {
			return i
		}
	}
	return -1
}

func deploymentPanels(runs []*Result, col int) ([]*plot.Plot, []*plot.Legend, error) {
	d0 := &runs[0].Deployments[col]
	var panels []*plot.Plot
	var legends []*plot.Legend
	// panel draws one chart; target gives a run's target for it (0: none).
	panel := func(title, ylabel string, target func(d *DeploymentResult, s series) float64, ss ...series) error {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "time since start (h:mm)"
		if runs[0].Duration > day {
			p.X.Label.Text = "time since start (days, h:mm)"
		}
		p.X.Tick.Marker = clockTicks{}
		p.Y.Label.Text = ylabel
		p.Y.Min = 0
		lg := plot.NewLegend()
		lg.Top, lg.Left = true, true
		lg.TextStyle.Font.Size = vg.Points(9)
		type drawn struct {
			value float64
			runs  []string
			color color.Color
		}
		var targets []*drawn
		for ri, r := range runs {
			if col >= len(r.Deployments) {
				continue
			}
			d := &r.Deployments[col]
			for _, s := range ss {
				get := s.get
				if s.metric != "" {
					k := metricIndex(d, s.metric)
					if k < 0 {
						continue
					}
					get = func(p *Point) float64 { return p.Metrics[k] }
				}
				xy := make(plotter.XYs, len(d.Timeline))
				for i := range d.Timeline {
					xy[i].X = float64(d.Timeline[i].T)
					xy[i].Y = get(&d.Timeline[i])
				}
				l, err := plotter.NewLine(xy)
				if err != nil {
					return err
				}
				l.Color = runColors[ri%len(runColors)]
				if s.dashed {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(l)
				name := s.name
				if len(runs) > 1 {
					name += " (" + r.Label + ")"
				}
				lg.Add(name, l)
				if target == nil {
					continue
				}
				if v := target(d, s); v > 0 {
					found := false
					for _, t := range targets {
						if t.value == v {
							t.runs, found = append(t.runs, r.Label), true
						}
					}
					if !found {
						targets = append(targets, &drawn{v, []string{r.Label}, runColors[ri%len(runColors)]})
					}
				}
			}
		}
		for _, t := range targets {
			v := t.value
			f := plotter.NewFunction(func(float64) float64 { return v })
			f.Color = targetColor
			if len(targets) > 1 {
				f.Color = t.color
			}
			f.Width = vg.Points(1.5)
			f.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
			p.Add(f)
			name := fmt.Sprintf("target %g", v)
			if len(runs) > 1 {
				name += " (" + strings.Join(t.runs, ", ") + ")"
			}
			lg.Add(name, f)
			p.Y.Max = max(p.Y.Max, v*1.1)
		}
		panels = append(panels, p)
		legends = append(legends, &lg)
		return nil
	}
	if err := panel(d0.Name+": replicas", "pods", nil,
		series{name: "replicas", get: func(p *Point) float64 { return float64(p.Replicas) }},
		series{name: "desired (metrics)", get: func(p *Point) float64 { return float64(p.Desired) }, dashed: true}); err != nil {
		return nil, nil, err
	}
	capacity := "ready capacity"
	if d0.CapacityLabel != "" {
		capacity = d0.CapacityLabel
	}
	if err := panel(d0.Name+": load", d0.LoadUnit, nil,
		series{name: "offered", get: func(p *Point) float64 { return p.Load }},
		series{name: capacity, get: func(p *Point) float64 { return p.Capacity }, dashed: true}); err != nil {
		return nil, nil, err
	}
	sloName := "p95 latency"
	if d0.SLOUnit == "s" {
		sloName = "oldest job age"
	}
	if err := panel(d0.Name+": "+sloName, d0.SLOUnit, func(d *DeploymentResult, _ series) float64 { return d.SLOTarget },
		series{name: sloName, get: func(p *Point) float64 { return p.SLO }}); err != nil {
		return nil, nil, err
	}
	// every metric of any run's HPA, in first-seen order
	var keys []MetricInfo
	seen := map[string]bool{}
	for _, r := range runs {
		if col < len(r.Deployments) {
			for _, m := range r.Deployments[col].Metrics {
				if !seen[m.Key] {
					seen[m.Key] = true
					keys = append(keys, m)
				}
			}
		}
	}
	for _, m := range keys {
		if err := panel(d0.Name+": "+m.Key, m.Label, func(d *DeploymentResult, s series) float64 {
			if k := metricIndex(d, s.metric); k >= 0 {
				return d.Metrics[k].TargetValue
			}
			return 0
		}, series{name: m.Label, metric: m.Key}); err != nil {
			return nil, nil, err
		}
	}
	return panels, legends, nil
}
