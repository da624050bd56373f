package sim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the summary table of one run, or of several side by side
// (--compare), followed by a terminal chart of each deployment.
func WriteText(w io.Writer, runs []*Result) error {
	if len(runs) == 0 {
		return nil
	}
	r0 := runs[0]
	labels := make([]string, len(runs))
	for i, r := range runs {
		labels[i] = r.Label
	}
	fmt.Fprintf(w, "Scenario %s, %s, seed %d: %s\n\n", r0.Scenario, time.Duration(r0.Duration)*time.Second, r0.Seed, strings.Join(labels, " vs "))
	if err := writeSummaryTable(w, runs); err != nil {
		return err
	}
	for i := range r0.Deployments {
		for _, r := range runs {
			fmt.Fprintln(w)
			writeChart(w, r, &r.Deployments[i], chartWidth)
		}
	}
	return nil
}

type row struct {
	name string
	cell func(d *DeploymentResult) string
}

var summaryRows = []row{
	{"HPA", func(d *DeploymentResult) string { return orDash(d.HPA) }},
	{"replicas min-max", func(d *DeploymentResult) string { return fmt.Sprintf("%d-%d", d.MinReplicas, d.MaxReplicas) }},
	{"peak replicas", func(d *DeploymentResult) string { return fmt.Sprint(d.Summary.PeakReplicas) }},
	{"catch-up s (load > capacity, longest)", func(d *DeploymentResult) string { return fmt.Sprint(d.Summary.CatchUpSeconds) }},
	{"under capacity s (total)", func(d *DeploymentResult) string { return fmt.Sprint(d.Summary.ShortfallSeconds) }},
	{"SLO violation s", func(d *DeploymentResult) string {
		return fmt.Sprintf("%d (%s > %g %s)", d.Summary.SLOSeconds, sloName(d), d.SLOTarget, d.SLOUnit)
	}},
	{"pod-hours", func(d *DeploymentResult) string { return fmt.Sprintf("%.2f", d.Summary.PodHours) }},
	{"oracle pod-hours", func(d *DeploymentResult) string { return fmt.Sprintf("%.2f", d.Summary.OraclePodHours) }},
	{"scale events", func(d *DeploymentResult) string { return fmt.Sprint(d.Summary.ScaleEvents) }},
	{"direction changes", func(d *DeploymentResult) string { return fmt.Sprint(d.Summary.DirectionChanges) }},
	{"worst", func(d *DeploymentResult) string {
		if d.LoadUnit == "req/s" {
			return fmt.Sprintf("p95 %.0f ms, %.0f dropped", d.Summary.MaxP95Ms, d.Summary.Dropped)
		}
		return fmt.Sprintf("depth %d, age %d s, %d late", d.Summary.MaxDepth, d.Summary.MaxAgeSeconds, d.Summary.LateJobs)
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
func writeSummaryTable(w io.Writer, runs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var head, sub strings.Builder
	head.WriteString("")
	sub.WriteString("")
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
			for _, r := range runs {
				if i < len(r.Deployments) {
					line += "\t" + rw.cell(&r.Deployments[i])
				}
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
