package loadtest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voiceassist/autoscaling/internal/sim"
)

func secs(s int64) string {
	if s < 0 {
		return "never"
	}
	return (time.Duration(s) * time.Second).String()
}

func pct(ok, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(ok)/float64(n))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// capacityLine says how long capacity took to meet demand.
func (r *Report) capacityLine() string {
	switch {
	case r.API == nil && r.Jobs != nil && r.CapacityMetDemandSeconds >= 0:
		return fmt.Sprintf("every job done %s after the first was accepted", secs(r.CapacityMetDemandSeconds))
	case r.API == nil && r.Jobs != nil:
		return "jobs still in flight when the run ended"
	case r.CapacityMetDemandSeconds == 0:
		return "met demand throughout (no second with less than 95 % answered" + map[bool]string{true: " or p99 over its SLO)", false: ")"}[r.hasSLO("p99")]
	case r.CapacityMetDemandSeconds < 0:
		return fmt.Sprintf("still short of demand when the load ended (%d seconds short)", r.ShortfallSeconds)
	}
	return fmt.Sprintf("met demand %s after the first shortfall (%d seconds short in all)", secs(r.CapacityMetDemandSeconds), r.ShortfallSeconds)
}

func (r *Report) hasSLO(key string) bool {
	for _, s := range r.SLOs {
		if strings.HasPrefix(s.SLO, key+"<=") {
			return true
		}
	}
	return false
}

func (r *Report) header() []string {
	lines := []string{
		fmt.Sprintf("vactl loadtest %s: %s", r.Target, r.ProfileDetail),
		fmt.Sprintf("gateway: %s; WAV mix %s", r.Gateway, r.Mix),
	}
	rates := []string{}
	if r.API != nil {
		rates = append(rates, fmt.Sprintf("base %g req/s (total)", r.APIRate))
	}
	if r.Jobs != nil {
		if r.Burst > 0 {
			rates = append(rates, fmt.Sprintf("a burst of %d jobs", r.Burst))
		} else {
			rates = append(rates, fmt.Sprintf("base %g jobs/s (total)", r.JobRate))
		}
	}
	cd := fmt.Sprintf("cool-down up to %s", secs(r.CooldownSeconds))
	if r.CooldownFrom != "" {
		cd += " (" + r.CooldownFrom + ")"
	}
	lines = append(lines, fmt.Sprintf("%s; load %s, %s; started %s", strings.Join(rates, ", "), secs(r.LoadSeconds), cd, r.Start.UTC().Format(time.RFC3339)))
	if r.Interrupted {
		lines = append(lines, "INTERRUPTED: the report covers what ran")
	}
	return lines
}

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	for _, l := range r.header() {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if t := r.API; t != nil {
		fmt.Fprintf(tw, "api\t%d requests, %d ok (%s)\toffered %.1f/s, achieved %.1f/s, peak %.0f/s offered, %d/s achieved\tp50/p95/p99 %s/%s/%s\n",
			t.Requests, t.OK, pct(t.OK, t.Requests), t.OfferedRate, t.AchievedRate, t.PeakOffered, t.PeakAchieved,
			ms(r.APILatency.P50), ms(r.APILatency.P95), ms(r.APILatency.P99))
		if len(t.Errors) > 0 {
			fmt.Fprintf(tw, "\t%s\t\t\n", strings.TrimSpace(errString(t.Errors)))
		}
	}
	if j := r.Jobs; j != nil {
		fmt.Fprintf(tw, "jobs\t%d submitted, %d accepted; %d done, %d failed, %d unfinished\tmost in flight %d\tjob p50/p95/p99 %s/%s/%s\n",
			j.Requests, j.OK, j.Done, j.Failed, j.Unfinished, j.MaxInFlight,
			jobDur(r.JobLatency.P50), jobDur(r.JobLatency.P95), jobDur(r.JobLatency.P99))
		if len(j.Errors) > 0 {
			fmt.Fprintf(tw, "\t%s\t\t\n", strings.TrimSpace(errString(j.Errors)))
		}
	}
	fmt.Fprintf(tw, "capacity\t%s\t\t\n", r.capacityLine())
	if len(r.HPAs) > 0 {
		fmt.Fprintf(tw, "scaling\tfirst scale-up %s, back to min %s after the load\t\t\n", secs(r.FirstScaleUpSeconds), secs(r.BackToMinSeconds))
	} else if !r.Cluster {
		fmt.Fprintf(tw, "scaling\tno cluster watched (--url): no replicas or HPA metrics\t\t\n")
	}
	tw.Flush()
	if len(r.HPAs) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HPA\tTARGET\tMIN\tMAX\tSTART\tPEAK\tPEAK READY\tFIRST SCALE-UP\tBACK TO MIN\tCHANGES")
		for _, h := range r.HPAs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\n", h.Name, h.Target, h.Min, h.Max, h.Initial, h.Peak, h.PeakReady,
				secs(h.FirstScaleUpSeconds), secs(h.BackToMinSeconds), h.ScaleEvents)
		}
		tw.Flush()
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLO\tOBSERVED\tSECONDS OVER\tMET")
	for _, s := range r.SLOs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.SLO, r.observed(s), s.ViolationSeconds, yesNo(s.OK))
	}
	tw.Flush()
	if len(r.Disruptions) > 0 {
		b.WriteString("\ndisruptions (Eviction API):\n")
		for _, d := range r.Disruptions {
			fmt.Fprintf(&b, "  %s %s pod %s: %s %s\n", secs(d.T), d.Mode, orDash(d.Pod), d.Result, d.Message)
		}
	}
	b.WriteString("\n")
	writeTimelineTable(&b, r, false)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nnote: %s\n", n)
	}
	fmt.Fprintf(&b, "\nverdict: %s\n", r.Verdict)
	for _, reason := range r.Reasons {
		fmt.Fprintf(&b, "  - %s\n", reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as Markdown (a CI summary, a PR comment).
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	h := r.header()
	fmt.Fprintf(&b, "## %s\n\n", h[0])
	for _, l := range h[1:] {
		fmt.Fprintf(&b, "%s  \n", l)
	}
	fmt.Fprintf(&b, "\n**Verdict: %s**\n", r.Verdict)
	for _, reason := range r.Reasons {
		fmt.Fprintf(&b, "- %s\n", reason)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> note: %s\n", n)
	}
	b.WriteString("\n| | |\n|---|---|\n")
	if t := r.API; t != nil {
		fmt.Fprintf(&b, "| api | %d requests, %d ok (%s); offered %.1f/s, achieved %.1f/s; p50/p95/p99 %s/%s/%s%s |\n",
			t.Requests, t.OK, pct(t.OK, t.Requests), t.OfferedRate, t.AchievedRate,
			ms(r.APILatency.P50), ms(r.APILatency.P95), ms(r.APILatency.P99), errString(t.Errors))
	}
	if j := r.Jobs; j != nil {
		fmt.Fprintf(&b, "| jobs | %d submitted, %d accepted; %d done, %d failed, %d unfinished; job p99 %s%s |\n",
			j.Requests, j.OK, j.Done, j.Failed, j.Unfinished, jobDur(r.JobLatency.P99), errString(j.Errors))
	}
	fmt.Fprintf(&b, "| capacity | %s |\n", r.capacityLine())
	if len(r.HPAs) > 0 {
		fmt.Fprintf(&b, "| scaling | first scale-up %s, back to min %s after the load |\n", secs(r.FirstScaleUpSeconds), secs(r.BackToMinSeconds))
		b.WriteString("\n| HPA | target | min | max | start | peak | peak ready | first scale-up | back to min | changes |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, h := range r.HPAs {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %s | %s | %d |\n", h.Name, h.Target, h.Min, h.Max, h.Initial, h.Peak, h.PeakReady,
				secs(h.FirstScaleUpSeconds), secs(h.BackToMinSeconds), h.ScaleEvents)
		}
	}
	b.WriteString("\n| SLO | observed | seconds over | met |\n|---|---|---|---|\n")
	for _, s := range r.SLOs {
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", s.SLO, r.observed(s), s.ViolationSeconds, yesNo(s.OK))
	}
	if len(r.Disruptions) > 0 {
		b.WriteString("\n| disruption | mode | pod | result |\n|---|---|---|---|\n")
		for _, d := range r.Disruptions {
			fmt.Fprintf(&b, "| %s | %s | %s | %s %s |\n", secs(d.T), d.Mode, orDash(d.Pod), d.Result, d.Message)
		}
	}
	b.WriteString("\n")
	writeTimelineTable(&b, r, true)
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func jobDur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

// timelineRows is about how many rows the timeline table gets.
const timelineRows = 30

// writeTimelineTable prints every n-th second of the timeline.
func writeTimelineTable(b *strings.Builder, r *Report, md bool) {
	if len(r.Timeline) == 0 {
		return
	}
	step := max(1, (len(r.Timeline)+timelineRows-1)/timelineRows)
	cols := []string{"T", "PHASE"}
	if r.API != nil {
		cols = append(cols, "API OFFERED/S", "OK/S", "P99", "ERRORS")
	}
	if r.Jobs != nil {
		cols = append(cols, "JOBS OFFERED/S", "ACCEPTED/S", "DONE/S", "IN FLIGHT")
	}
	for _, h := range r.HPAs {
		cols = append(cols, strings.TrimSuffix(h.Name, "-hpa")+" READY/CUR→DESIRED")
	}
	var ext []string
	for _, s := range r.Timeline {
		if s.Cluster != nil {
			for _, e := range s.Cluster.External {
				found := false
				for _, x := range ext {
					found = found || x == e.Metric
				}
				if !found {
					ext = append(ext, e.Metric)
				}
			}
		}
	}
	for _, e := range ext {
		cols = append(cols, shortMetric(e))
	}
	var tw *tabwriter.Writer
	row := func(cells []string) {
		if md {
			fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
			return
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if md {
		fmt.Fprintf(b, "Timeline, every %d s:\n\n", step)
		row(cols)
		row(strings.Split(strings.Repeat("---,", len(cols)-1)+"---", ","))
	} else {
		fmt.Fprintf(b, "timeline, every %d s:\n", step)
		tw = tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
		row(cols)
	}
	for i := 0; i < len(r.Timeline); i += step {
		s := r.Timeline[i]
		cells := []string{secs(s.T), s.Phase}
		if r.API != nil {
			if t := s.API; t != nil {
				cells = append(cells, fmt.Sprintf("%.1f", t.Offered), fmt.Sprint(t.OK), ms(t.P99), fmt.Sprint(t.ErrorCount()))
			} else {
				cells = append(cells, "-", "-", "-", "-")
			}
		}
		if r.Jobs != nil {
			if j := s.Jobs; j != nil {
				cells = append(cells, fmt.Sprintf("%.1f", j.Offered), fmt.Sprint(j.OK), fmt.Sprint(j.Done), fmt.Sprint(j.InFlight))
			} else {
				cells = append(cells, "-", "-", "-", "-")
			}
		}
		for _, h := range r.HPAs {
			cell := "-"
			if s.Cluster != nil {
				for _, x := range s.Cluster.HPAs {
					if x.Name == h.Name {
						cell = fmt.Sprintf("%d/%d→%d", x.Ready, x.Current, x.Desired)
					}
				}
			}
			cells = append(cells, cell)
		}
		for _, e := range ext {
			cell := "-"
			if s.Cluster != nil {
				for _, x := range s.Cluster.External {
					if x.Metric == e && x.Value != nil {
						cell = fmt.Sprintf("%g", *x.Value)
					}
				}
			}
			cells = append(cells, cell)
		}
		row(cells)
	}
	if tw != nil {
		tw.Flush()
	}
}

// WritePNG draws the run in simulate's chart style (sim.WritePNG): one
// column per HPA — replicas and desired, offered against achieved load,
// p99 latency (or job p99) against its SLO, each HPA metric against its
// target. Without a cluster, one column per kind of traffic.
func WritePNG(w io.Writer, r *Report, gatewayDeployment, workerDeployment string) error {
	res := &sim.Result{Label: "loadtest", Scenario: r.Profile, Duration: int64(len(r.Timeline)), SampleSeconds: 1}
	var p99, jobP99 float64
	for _, s := range r.SLOs {
		if strings.HasPrefix(s.SLO, "p99<=") {
			p99 = sloMax(r, "p99")
		}
		if strings.HasPrefix(s.SLO, "job-p99<=") {
			jobP99 = sloMax(r, "job-p99")
		}
	}
	column := func(name, hpaName string, jobs bool) sim.DeploymentResult {
		d := sim.DeploymentResult{Name: name, HPA: hpaName, LoadUnit: "req/s", SLOUnit: "ms", SLOTarget: p99, CapacityLabel: "achieved (ok/s)"}
		if jobs {
			d.LoadUnit, d.SLOUnit, d.SLOTarget, d.CapacityLabel = "jobs/s", "s", jobP99, "done/s"
		}
		for _, h := range r.HPAs {
			if h.Name == hpaName {
				d.MinReplicas, d.MaxReplicas = h.Min, h.Max
			}
		}
		var keys []string
		for _, s := range r.Timeline {
			p := sim.Point{T: s.T}
			switch {
			case jobs && s.Jobs != nil:
				p.Load, p.Capacity, p.SLO, p.Depth = s.Jobs.Offered, float64(s.Jobs.Done), s.Jobs.JobP99, float64(s.Jobs.InFlight)
			case !jobs && s.API != nil:
				p.Load, p.Capacity, p.SLO = s.API.Offered, float64(s.API.OK), s.API.P99
			}
			if s.Cluster != nil {
				for _, h := range s.Cluster.HPAs {
					if h.Name != hpaName {
						continue
					}
					p.Replicas, p.Ready, p.Desired = h.Current, h.Ready, h.Desired
					if keys == nil {
						for _, m := range h.Metrics {
							keys = append(keys, m.Key)
							d.Metrics = append(d.Metrics, sim.MetricInfo{Key: m.Key, Label: shortMetric(m.Key) + " " + m.Unit, TargetValue: m.Target})
						}
					}
					for _, k := range keys {
						v := 0.0
						for _, m := range h.Metrics {
							if m.Key == k && m.Known {
								v = m.Current
							}
						}
						p.Metrics = append(p.Metrics, v)
					}
				}
			}
			for len(p.Metrics) < len(keys) {
				p.Metrics = append(p.Metrics, 0)
			}
			d.Timeline = append(d.Timeline, p)
		}
		return d
	}
	if len(r.HPAs) > 0 {
		for _, h := range r.HPAs {
			jobs := h.Target == workerDeployment
			if h.Target != gatewayDeployment && !jobs {
				continue
			}
			res.Deployments = append(res.Deployments, column(h.Target, h.Name, jobs))
		}
	} else {
		if r.API != nil {
			res.Deployments = append(res.Deployments, column("gateway /v1/analyze", "", false))
		}
		if r.Jobs != nil {
			res.Deployments = append(res.Deployments, column("jobs /v1/jobs", "", true))
		}
	}
	return sim.WritePNG(w, []*sim.Result{res})
}

// sloMax reads back a threshold from the report's SLO list.
func sloMax(r *Report, key string) float64 {
	for _, s := range r.SLOs {
		if v, ok := strings.CutPrefix(s.SLO, key+"<="); ok {
			if d, err := time.ParseDuration(v); err == nil {
				if strings.HasPrefix(key, "job-") {
					return d.Seconds()
				}
				return float64(d) / float64(time.Millisecond)
			}
		}
	}
	return 0
}
