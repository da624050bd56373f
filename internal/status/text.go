package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"
)

// WriteText prints the snapshot as kubectl-like tables, one section per
// spec command: HPAs (get and describe), VPAs, PDBs, pods with top, the
// queue's external metrics, warning events.
func WriteText(w io.Writer, s *Snapshot) error {
	b := &strings.Builder{}
	head := "namespace " + s.Namespace
	if s.Env != "" {
		head += ", env " + s.Env
	}
	if r := s.Revision; r != nil {
		head += fmt.Sprintf(", revision %d (%s, applied %s ago)", r.Number, r.Env, age(s.Time, r.Time))
	} else {
		head += ", no vactl revision recorded"
	}
	fmt.Fprintf(b, "%s at %s\n", head, s.Time.Format(time.RFC3339))
	if len(s.Missing) > 0 {
		fmt.Fprintf(b, "\nMISSING (rendered by env %s, not in the cluster): %s\n", s.Env, strings.Join(s.Missing, ", "))
	}
	writeHPAs(b, s)
	writeVPAs(b, s)
	writePDBs(b, s)
	writePods(b, s)
	writeQueue(b, s)
	writeEvents(b, s)
	_, err := io.WriteString(w, b.String())
	return err
}

func table(b *strings.Builder) *tabwriter.Writer { return tabwriter.NewWriter(b, 0, 4, 2, ' ', 0) }

func age(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return duration.HumanDuration(now.Sub(t))
}

func writeHPAs(b *strings.Builder, s *Snapshot) {
	b.WriteString("\n")
	if len(s.HPAs.Items) == 0 {
		b.WriteString("No HorizontalPodAutoscalers.\n")
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "HPA\tTARGET\tMIN\tMAX\tCURRENT\tDESIRED\tREADY PODS\tLAST SCALE")
	for _, h := range s.HPAs.Items {
		last := "<never>"
		if h.LastScaleTime != nil {
			last = age(s.Time, *h.LastScaleTime) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", h.Name, h.Target, h.MinReplicas, h.MaxReplicas, h.CurrentReplicas, h.DesiredReplicas, h.ReadyPods, last)
	}
	tw.Flush()
	for _, h := range s.HPAs.Items {
		fmt.Fprintf(b, "\n%s:\n", h.Name)
		tw := table(b)
		fmt.Fprintln(tw, "  METRIC\tCURRENT\tTARGET\tPROPOSES")
		for _, m := range h.Metrics {
			prop := "-"
			if m.Proposal != nil {
				prop = fmt.Sprint(*m.Proposal)
			}
			if m.Decides {
				prop += "  <- decides"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Name, currentString(m.Current), targetString(m.Target), prop)
		}
		tw.Flush()
		for _, m := range h.Metrics {
			if m.ProposalError != "" && m.Current != nil {
				fmt.Fprintf(b, "  %s: %s\n", m.Name, m.ProposalError)
			}
		}
		fmt.Fprintf(b, "  decision: %s\n", h.Decision.Explanation)
		if len(h.Conditions) > 0 {
			tw = table(b)
			fmt.Fprintln(tw, "  CONDITION\tSTATUS\tREASON\tSINCE\tMESSAGE")
			for _, c := range h.Conditions {
				since := "-"
				if c.LastTransitionTime != nil {
					since = age(s.Time, *c.LastTransitionTime)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, since, c.Message)
			}
			tw.Flush()
		}
	}
}

// currentString is a metric's value as kubectl get hpa shows it.
func currentString(v *autoscalingv2.MetricValueStatus) string {
	switch {
	case v == nil:
		return "<unknown>"
	case v.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *v.AverageUtilization)
	case v.AverageValue != nil:
		return v.AverageValue.String() + " avg"
	case v.Value != nil:
		return v.Value.String()
	}
	return "<unknown>"
}

func targetString(t autoscalingv2.MetricTarget) string {
	switch {
	case t.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *t.AverageUtilization)
	case t.AverageValue != nil:
		return t.AverageValue.String() + " avg"
	case t.Value != nil:
		return t.Value.String()
	}
	return "?"
}

func writeVPAs(b *strings.Builder, s *Snapshot) {
	b.WriteString("\n")
	switch {
	case s.VPAs.Unavailable != "":
		fmt.Fprintf(b, "VPA: %s %s\n", Unavailable, s.VPAs.Unavailable)
		return
	case len(s.VPAs.Items) == 0:
		b.WriteString("No VerticalPodAutoscalers.\n")
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "VPA\tTARGET\tMODE\tCONTAINER\tRESOURCE\tLOWER\tTARGET\tUPPER\tREQUEST")
	var notes []string
	for _, v := range s.VPAs.Items {
		if v.NoRecommendation != "" {
			notes = append(notes, v.Name+": "+v.NoRecommendation)
		}
		if len(v.Containers) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", v.Name, v.Target, v.UpdateMode)
		}
		for _, c := range v.Containers {
			for _, r := range []string{"cpu", "memory"} {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Target, v.UpdateMode, c.Name, r,
					listValue(c.LowerBound, r), listValue(c.Target, r), listValue(c.UpperBound, r), listValue(c.Requests, r))
			}
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintf(b, "  %s\n", n)
	}
}

func listValue[L ~map[K]resource.Quantity, K ~string](l L, name string) string {
	if q, ok := l[K(name)]; ok {
		return q.String()
	}
	return "-"
}

func writePDBs(b *strings.Builder, s *Snapshot) {
	b.WriteString("\n")
	if len(s.PDBs.Items) == 0 {
		b.WriteString("No PodDisruptionBudgets.\n")
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "PDB\tMIN AVAILABLE\tMAX UNAVAILABLE\tEXPECTED PODS\tCURRENT HEALTHY\tDESIRED HEALTHY\tALLOWED DISRUPTIONS")
	for _, p := range s.PDBs.Items {
		minA, maxU := "N/A", "N/A"
		if p.MinAvailable != nil {
			minA = p.MinAvailable.String()
		}
		if p.MaxUnavailable != nil {
			maxU = p.MaxUnavailable.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", p.Name, minA, maxU, p.ExpectedPods, p.CurrentHealthy, p.DesiredHealthy, p.DisruptionsAllowed)
	}
	tw.Flush()
}

func writePods(b *strings.Builder, s *Snapshot) {
	b.WriteString("\n")
	if len(s.Pods.Items) == 0 {
		b.WriteString("No pods.\n")
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "POD\tREADY\tSTATUS\tRESTARTS\tLAST TERMINATION\tCPU USE/REQ/LIM\tMEMORY USE/REQ/LIM\tAGE")
	for _, p := range s.Pods.Items {
		last := "-"
		if t := p.LastTermination; t != nil {
			last = fmt.Sprintf("%s (exit %d, %s)", t.Reason, t.ExitCode, t.Container)
			if t.FinishedAt != nil {
				last = fmt.Sprintf("%s (exit %d, %s, %s ago)", t.Reason, t.ExitCode, t.Container, age(s.Time, *t.FinishedAt))
			}
		}
		ageS := "-"
		if p.StartTime != nil {
			ageS = age(s.Time, *p.StartTime)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.ReadyContainers, p.Containers, p.Phase, p.Restarts, last,
			usageString(p.CPU, cpuString), usageString(p.Memory, memString), ageS)
	}
	tw.Flush()
	if s.Pods.MetricsUnavailable != "" {
		fmt.Fprintf(b, "  CPU/memory use %s: %s\n", Unavailable, s.Pods.MetricsUnavailable)
	}
}

// cpuString and memString print as kubectl top does: millicores, MiB.
func cpuString(q *resource.Quantity) string { return fmt.Sprintf("%dm", q.MilliValue()) }
func memString(q *resource.Quantity) string { return fmt.Sprintf("%dMi", q.Value()/(1<<20)) }

func usageString(u Usage, f func(*resource.Quantity) string) string {
	use, req, lim := Unavailable, "-", "-"
	if u.Usage != nil {
		use = f(u.Usage)
	}
	if u.Request != nil {
		req = f(u.Request)
	}
	if u.Limit != nil {
		lim = f(u.Limit)
	}
	out := use + "/" + req + "/" + lim
	if u.Usage != nil && u.Limit != nil && u.Limit.MilliValue() > 0 {
		out += fmt.Sprintf(" (%d%% of limit)", u.Usage.MilliValue()*100/u.Limit.MilliValue())
	}
	return out
}

func writeQueue(b *strings.Builder, s *Snapshot) {
	if len(s.Queue.Metrics) == 0 && s.Queue.Unavailable == "" {
		return
	}
	b.WriteString("\n")
	if s.Queue.Unavailable != "" {
		fmt.Fprintf(b, "Queue: %s %s\n", Unavailable, s.Queue.Unavailable)
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "EXTERNAL METRIC\tSELECTOR\tVALUE\tSERIES\tAS OF\tREAD BY")
	for _, m := range s.Queue.Metrics {
		v, at := Unavailable, "-"
		if m.Value != nil {
			v = m.Value.String()
		}
		if m.Timestamp != nil {
			at = age(s.Time, *m.Timestamp) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", m.Name, m.Selector, v, m.Series, at, m.HPA)
	}
	tw.Flush()
	for _, m := range s.Queue.Metrics {
		if m.Error != "" {
			fmt.Fprintf(b, "  %s: %s\n", m.Name, m.Error)
		}
	}
}

func writeEvents(b *strings.Builder, s *Snapshot) {
	b.WriteString("\n")
	if len(s.Events.Items) == 0 {
		b.WriteString("No Warning events.\n")
		return
	}
	tw := table(b)
	fmt.Fprintln(tw, "LAST SEEN\tWARNING\tOBJECT\tCOUNT\tMESSAGE")
	for _, e := range s.Events.Items {
		fmt.Fprintf(tw, "%s ago\t%s\t%s\t%d\t%s\n", age(s.Time, e.LastSeen), e.Reason, e.Object, e.Count, oneLine(e.Message))
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
