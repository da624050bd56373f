package doctor

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for people: the explanations first (what
// each HPA does next), then the findings, most severe first.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	env := ""
	if r.Env != "" {
		env = " (env " + r.Env + ")"
	}
	fmt.Fprintf(&b, "vactl doctor: namespace %s%s at %s: %d error(s), %d warning(s), %d info\n",
		r.Namespace, env, r.Time.UTC().Format("2006-01-02 15:04:05 MST"), r.Summary.Errors, r.Summary.Warnings, r.Summary.Infos)
	for _, e := range r.Explanations {
		fmt.Fprintf(&b, "\nexplain HorizontalPodAutoscaler %s/%s → %s\n", r.Namespace, e.HPA, e.Target)
		if e.Err != "" {
			fmt.Fprintf(&b, "  %s\n", e.Summary)
			continue
		}
		fmt.Fprintf(&b, "  replicas %d (status %d), min %d, max %d; last desired %d; %s\n",
			e.SpecReplicas, e.StatusReplicas, e.MinReplicas, e.MaxReplicas, e.StatusDesired, e.Pods)
		for _, m := range e.Metrics {
			prop := fmt.Sprintf("proposes %d", m.Proposed)
			if m.Error != "" {
				prop = "invalid (" + m.Reason + "): " + m.Error
			}
			fmt.Fprintf(&b, "  %-52s target %-16s now %-22s (last sync %s) %s\n", m.Metric, m.Target, m.Now, m.Status, prop)
		}
		if l := e.Limit; l != nil {
			var ps []string
			for _, p := range l.Policies {
				mark := ""
				if p.Decides {
					mark = " ←"
				}
				ps = append(ps, fmt.Sprintf("%s allows %d → %d%s", p.Policy, p.PeriodStart, p.Allows, mark))
			}
			fmt.Fprintf(&b, "  scale-%s policies (selectPolicy %s): %s\n", l.Direction, l.SelectPolicy, strings.Join(ps, "; "))
		}
		fmt.Fprintf(&b, "  next: %s (%s)\n", e.Summary, e.Reason)
		if e.Disagreement != "" {
			fmt.Fprintf(&b, "  disagrees: %s\n", e.Disagreement)
		}
		if len(e.History) > 0 {
			var hs []string
			for _, h := range e.History {
				from := "?"
				if h.From >= 0 {
					from = fmt.Sprint(h.From)
				}
				hs = append(hs, fmt.Sprintf("%s %s→%d", h.Time.UTC().Format("15:04:05"), from, h.To))
			}
			fmt.Fprintf(&b, "  rescales: %s\n", strings.Join(hs, ", "))
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n%-7s [%s] %s\n  %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Object, f.Message)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "    - %s\n", e)
		}
		for _, c := range f.Confirm {
			fmt.Fprintf(&b, "  confirm: %s\n", c)
		}
		if f.Fix != "" {
			fmt.Fprintf(&b, "  fix: %s\n", f.Fix)
		}
	}
	if len(r.Findings) == 0 {
		b.WriteString("\nno findings\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
