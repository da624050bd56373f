package sim

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what `vactl simulate` prints: one or more configurations, each
// run under one or more seeds, and the --slo checks.
type Report struct {
	// Configs holds each configuration's runs, one per seed, in seed order.
	Configs [][]*Result
	// SLOs are the checks' results (empty without --slo).
	SLOs []SLOResult
	// Inputs name the parameter sources in order: "defaults", a file, --set.
	Inputs []string
}

// First returns the first seed's run of each configuration.
func (r *Report) First() []*Result {
	out := make([]*Result, len(r.Configs))
	for i, c := range r.Configs {
		out[i] = c[0]
	}
	return out
}

// SLOFailed reports whether any --slo check failed.
func (r *Report) SLOFailed() bool {
	for _, s := range r.SLOs {
		if !s.Pass {
			return true
		}
	}
	return false
}

// maxEventsShown bounds the scale events the text report lists per deployment.
const maxEventsShown = 12

// WriteText prints the header (what ran, with the parameters and the
// metrics pipeline in effect), the summary table of every configuration
// side by side, the --slo checks, the first scale events and a terminal
// chart of each deployment (the first seed's).
func WriteText(w io.Writer, rep *Report) error {
	runs := rep.First()
	if len(runs) == 0 {
		return nil
	}
	r0 := runs[0]
	labels := make([]string, len(runs))
	for i, r := range runs {
		labels[i] = r.Label
	}
	seeds := len(rep.Configs[0])
	seedText := fmt.Sprintf("seed %d", r0.Seed)
	if seeds > 1 {
		seedText = fmt.Sprintf("seeds %d-%d", r0.Seed, rep.Configs[0][seeds-1].Seed)
	}
	fmt.Fprintf(w, "Scenario %s, %s, %s: %s\n", r0.Scenario, dur(r0.Duration), seedText, strings.Join(labels, " vs "))
	fmt.Fprintf(w, "  warm-up   %s at the scenario's initial load before t=0, not recorded\n", dur(r0.WarmupSeconds))
	if seeds > 1 {
		fmt.Fprintf(w, "  seeds     %d runs each: a figure is the mean (95 %% confidence interval of the mean, Student's t)\n", seeds)
	}
	inputs := "defaults"
	if len(rep.Inputs) > 0 {
		inputs = strings.Join(rep.Inputs, " + ")
	}
	fmt.Fprintf(w, "  params    %s (profile: %s)\n", inputs, orDash(r0.Params.Profile.Source))
	if ch := ChangedParams(r0.Params); len(ch) > 0 {
		fmt.Fprintf(w, "  changed   %s\n", strings.Join(ch, ", "))
	}
	for _, r := range runs {
		fmt.Fprintf(w, "  %s:\n", r.Label)
		pl := r.Pipeline
		fmt.Fprintf(w, "    metrics-server every %s\n", pl.MetricResolution)
		fmt.Fprintf(w, "    Prometheus     gateway every %s\n", pl.GatewayScrape)
		fmt.Fprintf(w, "                   queue exporter every %s\n", pl.ExporterScrape)
		fmt.Fprintf(w, "    adapter        rate() over %s\n", pl.RateWindow)
		for _, d := range r.Deployments {
			fmt.Fprintf(w, "    %-14s %s\n", shortName(d.Name), podLine(&d, r.Params.Run.CPUBurst))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "    note           %s\n", n)
		}
	}
	fmt.Fprintln(w)
	var stats []RunStats
	if seeds > 1 {
		for _, c := range rep.Configs {
			stats = append(stats, Stats(c))
		}
	}
	if err := writeSummaryTable(w, runs, stats); err != nil {
		return err
	}
	if len(rep.SLOs) > 0 {
		fmt.Fprintln(w)
		writeSLOs(w, rep.SLOs)
	}
	for i := range r0.Deployments {
		for _, r := range runs {
			fmt.Fprintln(w)
			writeEvents(w, r, &r.Deployments[i])
		}
	}
	for i := range r0.Deployments {
		for _, r := range runs {
			fmt.Fprintln(w)
			writeChart(w, r, &r.Deployments[i], chartWidth)
		}
	}
	return nil
}

func dur(s int64) time.Duration { return time.Duration(s) * time.Second }

func shortName(name string) string {
	switch name {
	case GatewayName:
		return "gateway"
	case WorkerName:
		return "worker"
	}
	return name
}

func podLine(d *DeploymentResult, burst float64) string {
	limit := "no limit"
	if d.CPULimit > 0 {
		limit = fmt.Sprintf("limit %gm", d.CPULimit)
	}
	memLimit := "no memory limit"
	if d.MemoryLimitMi > 0 {
		memLimit = fmt.Sprintf("memory limit %gMi", d.MemoryLimitMi)
	}
	return fmt.Sprintf("%gm CPU per pod (request %gm, %s, run.cpuBurst %g) serves %s %s; %s",
		d.CPUAvailable, d.CPURequest, limit, burst, num(d.CapacityPerPod), d.LoadUnit, memLimit)
}

type row struct {
	name string
	cell func(c cellCtx) string
}

// cellCtx is one table cell: a deployment's result and, with several
// seeds, its statistics.
type cellCtx struct {
	d  *DeploymentResult
	st *DeploymentStats
}

// fig formats one figure: the single run's value, or the mean and its 95 %
// interval over the seeds.
func (c cellCtx) fig(key, format string) string {
	if c.st == nil {
		f, _ := lookupFigure(key)
		return fmt.Sprintf(format, f.get(&c.d.Summary))
	}
	s := c.st.Figures[key]
	if s.N < 2 || s.Hi-s.Lo <= 1e-9*math.Abs(s.Mean) {
		return fmt.Sprintf(format, s.Mean)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.Mean, max(0, s.Lo), s.Hi)
}

var summaryRows = []row{
	{"HPA", func(c cellCtx) string { return orDash(c.d.HPA) }},
	{"replicas min-max", func(c cellCtx) string { return fmt.Sprintf("%d-%d", c.d.MinReplicas, c.d.MaxReplicas) }},
	{"capacity per ready pod", func(c cellCtx) string {
		return fmt.Sprintf("%s %s (%gm CPU)", num(c.d.CapacityPerPod), c.d.LoadUnit, c.d.CPUAvailable)
	}},
	{"peak replicas", func(c cellCtx) string { return c.fig("peakReplicas", "%.3g") }},
	{"catch-up s (load > capacity, longest)", func(c cellCtx) string { return c.fig("catchUpSeconds", "%.0f") }},
	{"under capacity s (total)", func(c cellCtx) string { return c.fig("shortfallSeconds", "%.0f") }},
	{"SLO violation s", func(c cellCtx) string {
		return fmt.Sprintf("%s (%s > %g %s)", c.fig("sloViolationSeconds", "%.0f"), sloName(c.d), c.d.SLOTarget, c.d.SLOUnit)
	}},
	{"pod-hours", func(c cellCtx) string { return c.fig("podHours", "%.2f") }},
	{"oracle pod-hours", func(c cellCtx) string { return c.fig("oraclePodHours", "%.2f") }},
	{"scale events", func(c cellCtx) string { return c.fig("scaleEvents", "%.3g") }},
	{"direction changes", func(c cellCtx) string { return c.fig("directionChanges", "%.3g") }},
	{"quota held s", func(c cellCtx) string {
		s := c.fig("quotaHeldSeconds", "%.0f")
		if c.d.Summary.QuotaFirstHeldAt >= 0 {
			s += fmt.Sprintf(", up to %d pods, first at %s by %s", c.d.Summary.QuotaHeldPods, dur(c.d.Summary.QuotaFirstHeldAt), c.d.Summary.QuotaLimit)
		}
		return s
	}},
	{"OOM kills", func(c cellCtx) string { return c.fig("oomKills", "%.3g") }},
	{"worst", func(c cellCtx) string {
		if c.d.LoadUnit == "req/s" {
			return fmt.Sprintf("p95 %s ms, %s dropped", c.fig("maxP95Ms", "%.0f"), c.fig("dropped", "%.0f"))
		}
		return fmt.Sprintf("depth %s, age %s s, %s late", c.fig("maxDepth", "%.0f"), c.fig("maxAgeSeconds", "%.0f"), c.fig("lateJobs", "%.0f"))
	}},
	{"left at the end", func(c cellCtx) string {
		if c.d.LoadUnit == "req/s" {
			return c.fig("backlogAtEnd", "%.0f") + " requests waiting"
		}
		s := c.fig("queuedAtEnd", "%.0f") + " jobs queued"
		if c.st == nil && c.d.Summary.QueuedAtEnd > 0 {
			s += fmt.Sprintf(", oldest %d s", c.d.Summary.OldestAtEndSeconds)
		}
		return s
	}},
}

func sloName(d *DeploymentResult) string {
	if d.LoadUnit == "req/s" {
		return "p95"
	}
	return "wait"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeSummaryTable prints one column per deployment and run.
func writeSummaryTable(w io.Writer, runs []*Result, stats []RunStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var head, sub strings.Builder
	for i := range runs[0].Deployments {
		for _, r := range runs {
			if i < len(r.Deployments) {
				head.WriteString("\t" + r.Deployments[i].Name)
				sub.WriteString("\t" + r.Label)
			}
		}
	}
	fmt.Fprintln(tw, head.String())
	if len(runs) > 1 {
		fmt.Fprintln(tw, sub.String())
	}
	for _, rw := range summaryRows {
		line := rw.name
		for i := range runs[0].Deployments {
			for k, r := range runs {
				if i < len(r.Deployments) {
					c := cellCtx{d: &r.Deployments[i]}
					if stats != nil {
						c.st = &stats[k].Deployments[i]
					}
					line += "\t" + rw.cell(c)
				}
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func writeSLOs(w io.Writer, res []SLOResult) {
	fmt.Fprintln(w, "SLO checks (--slo): every seed must pass")
	for _, s := range res {
		verdict := "PASS"
		if !s.Pass {
			verdict = fmt.Sprintf("FAIL in %d of %d seeds", s.Failed, s.Seeds)
		}
		fmt.Fprintf(w, "  %-5s %-40s %s: worst %s\n", verdict[:4], s.SLO.String(), s.Label, num(s.Worst))
		if !s.Pass {
			fmt.Fprintf(w, "        %s\n", verdict)
		}
	}
}

// writeEvents lists the first scale events: when, from and to, the metric
// that drove the change and the limit that held it.
func writeEvents(w io.Writer, r *Result, d *DeploymentResult) {
	fmt.Fprintf(w, "%s (%s) scale events, seed %d: %d\n", d.Name, r.Label, r.Seed, len(d.Events))
	for i, e := range d.Events {
		if i == maxEventsShown {
			fmt.Fprintf(w, "  … %d more (-o json lists them all)\n", len(d.Events)-maxEventsShown)
			break
		}
		line := fmt.Sprintf("  %9s  %2d → %-2d  proposed %d by %s", clock(e.T), e.From, e.To, e.Proposed, orDash(e.Metric))
		if e.Limit != "" {
			line += "; held by " + strings.SplitN(e.Limit, ":", 2)[0]
		}
		if e.Quota != "" {
			line += "; pods held by " + e.Quota
		}
		fmt.Fprintln(w, line)
	}
}

// clock formats simulation seconds as h:mm:ss (d+h:mm:ss beyond a day).
func clock(t int64) string {
	d, h, m, s := t/day, t%day/hour, t%hour/60, t%60
	if d > 0 {
		return fmt.Sprintf("%dd+%d:%02d:%02d", d, h, m, s)
	}
	return fmt.Sprintf("%d:%02d:%02d", h, m, s)
}
