package recommend

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// WriteText prints current against recommended per container, with the
// reasons under each row.
func WriteText(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "env %s, from %s\n\n", r.Env, strings.Join(r.Sources, "; "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tCPU REQUEST\tCPU LIMIT\tMEMORY REQUEST\tMEMORY LIMIT\tVPA BOUNDS cpu, memory\tKRR SIMPLE cpu, memory")
	for _, c := range r.Containers {
		rec := Resources{}
		if c.Recommended != nil {
			rec = *c.Recommended
		}
		bounds, krr := "-", "-"
		if c.VPA != nil {
			bounds = fmt.Sprintf("%s–%s, %s–%s", fmtCPU(c.VPA.LowerBound.CPUCores), fmtCPU(c.VPA.UpperBound.CPUCores), fmtMem(c.VPA.LowerBound.MemoryBytes), fmtMem(c.VPA.UpperBound.MemoryBytes))
		}
		if c.KRR != nil {
			krr = fmt.Sprintf("%s, %s", fmtCPU(c.KRR.CPURequestCores), fmtMem(c.KRR.MemoryBytes))
			if c.KRR.Note != "" {
				krr += " (?)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Ref(), c.Container,
			change(c.Current.Requests, rec.Requests, corev1.ResourceCPU),
			change(c.Current.Limits, rec.Limits, corev1.ResourceCPU),
			change(c.Current.Requests, rec.Requests, corev1.ResourceMemory),
			change(c.Current.Limits, rec.Limits, corev1.ResourceMemory),
			bounds, krr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, c := range r.Containers {
		fmt.Fprintf(w, "%s container %s:\n", c.Ref(), c.Container)
		for _, why := range c.Reasons {
			fmt.Fprintf(w, "  - %s\n", why)
		}
		if c.KRR != nil && c.KRR.Note != "" {
			fmt.Fprintf(w, "  - krr simple: %s\n", c.KRR.Note)
		}
	}
	if len(r.Unmatched) > 0 {
		fmt.Fprintf(w, "\n%d pod(s) in the data belong to no workload of env %s: %s\n", len(r.Unmatched), r.Env, strings.Join(r.Unmatched, ", "))
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\n%d problem(s):\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	return nil
}

// change prints "cur → rec", or just cur when unchanged or unknown.
func change(cur, rec corev1.ResourceList, res corev1.ResourceName) string {
	c, okc := cur[res]
	r, okr := rec[res]
	cs := "none"
	if okc {
		cs = short(res, c)
	}
	if !okr || (okc && c.Cmp(r) == 0) {
		return cs
	}
	return cs + " → " + short(res, r)
}

func short(res corev1.ResourceName, q resource.Quantity) string { return fmtUnits(res, units(res, q)) }

// WriteJSON prints the result as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteYAML prints the result as YAML.
func WriteYAML(w io.Writer, r *Result) error {
	b, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
