package sim

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// chartWidth is the number of columns of a terminal chart row.
const chartWidth = 60

var bars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values as one row of block characters scaled to [0, hi].
func sparkline(values []float64, hi float64) string {
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > 0 && v > 0 {
			i = int(math.Round(v / hi * float64(len(bars)-1)))
			i = max(0, min(i, len(bars)-1))
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}

// columns reduces a series to width columns: the max of each column's
// points, or the mean when mean is set.
func columns(n, width int, get func(i int) float64, mean bool) []float64 {
	width = min(width, n)
	out := make([]float64, width)
	for c := 0; c < width; c++ {
		lo, hi := c*n/width, (c+1)*n/width
		acc := math.Inf(-1)
		if mean {
			acc = 0
		}
		for i := lo; i < hi; i++ {
			if mean {
				acc += get(i)
			} else {
				acc = max(acc, get(i))
			}
		}
		if mean {
			acc /= float64(hi - lo)
		}
		out[c] = acc
	}
	return out
}

func seriesMax(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// writeChart prints one deployment's timeline as sparkline rows: load,
// replicas, desired, the SLO signal and each HPA metric.
func writeChart(w io.Writer, r *Result, d *DeploymentResult, width int) {
	tl := d.Timeline
	n := len(tl)
	if n == 0 {
		return
	}
	span := time.Duration(r.Duration) * time.Second
	fmt.Fprintf(w, "%s (%s)   0 … %s, one column = %s\n", d.Name, r.Label, span, (span / time.Duration(min(width, n))).Round(time.Second))
	type line struct {
		name   string
		values []float64
		hi     float64
		note   string
	}
	var lines []line
	add := func(name string, get func(i int) float64, mean bool, hi float64, note func(peak float64) string) {
		v := columns(n, width, get, mean)
		peak := seriesMax(v)
		hi = max(hi, peak)
		lines = append(lines, line{name, v, hi, note(peak)})
	}
	add("load "+d.LoadUnit, func(i int) float64 { return tl[i].Load }, true, 0, func(p float64) string { return "peak " + num(p) })
	maxR := float64(d.MaxReplicas)
	add("replicas", func(i int) float64 { return float64(tl[i].Replicas) }, false, maxR, func(p float64) string {
		return fmt.Sprintf("peak %.0f of %d", p, d.MaxReplicas)
	})
	add("desired", func(i int) float64 { return float64(tl[i].Desired) }, false, max(maxR, 1), func(p float64) string {
		return fmt.Sprintf("peak %.0f (metrics' max)", p)
	})
	sloLabel := "SLO: p95 ms"
	if d.SLOUnit == "s" {
		sloLabel = "SLO: oldest job s"
	}
	add(sloLabel, func(i int) float64 { return tl[i].SLO }, false, 0, func(p float64) string {
		return fmt.Sprintf("peak %s, SLO %g, over %s", num(p), d.SLOTarget, share(tl, func(pt *Point) bool { return pt.SLO > d.SLOTarget }))
	})
	for k, m := range d.Metrics {
		add(m.Label, func(i int) float64 { return tl[i].Metrics[k] }, false, 0, func(p float64) string {
			return fmt.Sprintf("peak %s, target %g, over %s", num(p), m.TargetValue, share(tl, func(pt *Point) bool { return pt.Metrics[k] > m.TargetValue }))
		})
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-20s %s  %s\n", l.name, sparkline(l.values, l.hi), l.note)
	}
}

// share is the fraction of samples for which f holds, as "12%".
func share(tl []Point, f func(*Point) bool) string {
	c := 0
	for i := range tl {
		if f(&tl[i]) {
			c++
		}
	}
	return fmt.Sprintf("%.0f%% of the time", 100*float64(c)/float64(len(tl)))
}

// num formats a value for a chart note: 4 significant digits, no exponent.
func num(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}
