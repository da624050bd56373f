package sim

import (
	"fmt"
	"image/color"
	"io"

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

// WritePNG draws one column per deployment: replicas and desired, the load
// against the ready capacity, the SLO signal against its target and each
// HPA metric against its target. Runs of a --compare share the panels.
func WritePNG(w io.Writer, runs []*Result) error {
	if len(runs) == 0 || len(runs[0].Deployments) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	cols := len(runs[0].Deployments)
	var grid [][]*plot.Plot
	for c := 0; c < cols; c++ {
		panels, err := deploymentPanels(runs, c)
		if err != nil {
			return err
		}
		for r, p := range panels {
			for len(grid) <= r {
				grid = append(grid, make([]*plot.Plot, cols))
			}
			grid[r][c] = p
		}
	}
	width := vg.Length(cols) * 7 * vg.Inch
	height := vg.Length(len(grid)) * 2.2 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(grid), Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c := range grid[r] {
			if grid[r][c] != nil {
				grid[r][c].Draw(canvases[r][c])
			}
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
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

func deploymentPanels(runs []*Result, col int) ([]*plot.Plot, error) {
	d0 := &runs[0].Deployments[col]
	var panels []*plot.Plot
	panel := func(title, ylabel string, target float64, ss ...series) error {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "minutes"
		p.Y.Label.Text = ylabel
		p.Y.Min = 0
		p.Legend.Top = true
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
					xy[i].X = float64(d.Timeline[i].T) / 60
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
				p.Legend.Add(name, l)
			}
		}
		if target > 0 {
			f := plotter.NewFunction(func(float64) float64 { return target })
			f.Color = targetColor
			f.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(f)
			p.Legend.Add(fmt.Sprintf("target %g", target), f)
			p.Y.Max = max(p.Y.Max, target*1.1)
		}
		panels = append(panels, p)
		return nil
	}
	if err := panel(d0.Name+": replicas", "pods", 0,
		series{name: "replicas", get: func(p *Point) float64 { return float64(p.Replicas) }},
		series{name: "desired (metrics)", get: func(p *Point) float64 { return float64(p.Desired) }, dashed: true}); err != nil {
		return nil, err
	}
	if err := panel(d0.Name+": load", d0.LoadUnit, 0,
		series{name: "offered", get: func(p *Point) float64 { return p.Load }},
		series{name: "ready capacity", get: func(p *Point) float64 { return p.Capacity }, dashed: true}); err != nil {
		return nil, err
	}
	sloName := "p95 latency"
	if d0.SLOUnit == "s" {
		sloName = "oldest job age"
	}
	if err := panel(d0.Name+": "+sloName, d0.SLOUnit, d0.SLOTarget,
		series{name: sloName, get: func(p *Point) float64 { return p.SLO }}); err != nil {
		return nil, err
	}
	for _, m := range d0.Metrics {
		if err := panel(d0.Name+": "+m.Key, m.Label, m.TargetValue,
			series{name: m.Label, metric: m.Key}); err != nil {
			return nil, err
		}
	}
	return panels, nil
}
