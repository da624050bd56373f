package tune

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

// The colours and layout of vactl simulate's charts (internal/sim
// chart_png.go): blue and red for the runs, grey for the rest, the legend
// in a strip beside the plot so it covers no point.
var (
	currentColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	pickColor    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	frontColor   = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	otherColor   = color.Gray{Y: 0xb0}
)

const legendWidth = 2.6 * vg.Inch

// WritePNG draws the search: every evaluated setting (grey), the Pareto
// front over whole configurations (green line), the current settings
// (blue) and the pick (red), SLO-violating seconds against pod-hours.
func WritePNG(w io.Writer, s *Search, pick Point) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Pareto front: %d settings x %d seeds", len(s.Evaluated), len(s.Seeds))
	p.X.Label.Text = "pod-hours (mean over seeds)"
	p.Y.Label.Text = "SLO-violating seconds (mean over seeds)"
	lg := plot.NewLegend()
	lg.Top, lg.Left = true, true
	lg.TextStyle.Font.Size = vg.Points(9)

	all := make(plotter.XYs, len(s.Evaluated))
	for i, e := range s.Evaluated {
		all[i].X, all[i].Y = e.PodHours[0]+e.PodHours[1], e.SLOSeconds[0]+e.SLOSeconds[1]
	}
	sc, err := plotter.NewScatter(all)
	if err != nil {
		return err
	}
	sc.Color, sc.Radius = otherColor, vg.Points(2)
	p.Add(sc)
	lg.Add("evaluated settings", sc)

	front := make(plotter.XYs, len(s.Front))
	for i, f := range s.Front {
		front[i].X, front[i].Y = f.PodHours.Mean, f.SLOSeconds.Mean
	}
	l, pts, err := plotter.NewLinePoints(front)
	if err != nil {
		return err
	}
	l.Color, pts.Color, pts.Radius = frontColor, frontColor, vg.Points(2.5)
	p.Add(l, pts)
	lg.Add(fmt.Sprintf("Pareto front (%d)", len(s.Front)), l, pts)

	mark := func(name string, pt Point, c color.Color, shape draw.GlyphDrawer) error {
		xy := plotter.XYs{{X: pt.PodHours.Mean, Y: pt.SLOSeconds.Mean}}
		m, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		m.Color, m.Radius, m.Shape = c, vg.Points(5), shape
		// the 95 % intervals over the seeds
		eb, err := plotter.NewXErrorBars(errXY{xy, pt.PodHours.Mean - pt.PodHours.Lo, pt.PodHours.Hi - pt.PodHours.Mean, 0, 0})
		if err != nil {
			return err
		}
		eb.Color = c
		yb, err := plotter.NewYErrorBars(errXY{xy, 0, 0, pt.SLOSeconds.Mean - pt.SLOSeconds.Lo, pt.SLOSeconds.Hi - pt.SLOSeconds.Mean})
		if err != nil {
			return err
		}
		yb.Color = c
		p.Add(m, eb, yb)
		lg.Add(fmt.Sprintf("%s: %.0f s, %.2f pod-h", name, pt.SLOSeconds.Mean, pt.PodHours.Mean), m)
		return nil
	}
	if err := mark("current", s.Current, currentColor, draw.SquareGlyph{}); err != nil {
		return err
	}
	if err := mark("pick", pick, pickColor, draw.TriangleGlyph{}); err != nil {
		return err
	}
	p.Y.Min = 0

	width, height := 7*vg.Inch+legendWidth, 5*vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	area := draw.Crop(dc, 0, -legendWidth, 0, 0)
	p.Draw(area)
	strip := dc
	strip.Min.X = area.Max.X + vg.Millimeter*3
	strip.Max.Y -= vg.Millimeter * 6
	lg.Draw(strip)
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// errXY is one point with its error bars.
type errXY struct {
	plotter.XYs
	xl, xh, yl, yh float64
}

func (e errXY) XError(int) (float64, float64) { return e.xl, e.xh }
func (e errXY) YError(int) (float64, float64) { return e.yl, e.yh }
