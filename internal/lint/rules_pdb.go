package lint

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func checkPDBSelector(c *Context) []Finding {
	var out []Finding
	for _, p := range c.Set.PDBs {
		if p.Spec.Selector == nil {
			out = append(out, c.at(p, "spec.selector", "the PDB has no selector: it protects no pod",
				"set spec.selector.matchLabels to the pod labels of the workload it protects"))
			continue
		}
		ws, err := c.Set.PodsMatching(p.Namespace, p.Spec.Selector)
		if err != nil {
			out = append(out, c.at(p, "spec.selector", "invalid selector: "+err.Error(), "fix spec.selector"))
			continue
		}
		if len(ws) == 0 {
			out = append(out, c.at(p, "spec.selector", fmt.Sprintf("selector %s matches no pod template in namespace %s: the PDB protects nothing, and a drain can take every replica at once", selectorText(p.Spec.Selector.MatchLabels), p.Namespace),
				"make spec.selector match the workload's spec.template.metadata.labels (and check the namespace)"))
		}
	}
	return out
}

func selectorText(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	if len(parts) == 0 {
		return "{}"
	}
	return strings.Join(sorted(parts), ",")
}

func checkPDBBlocksEviction(c *Context) []Finding {
	var out []Finding
	for _, p := range c.Set.PDBs {
		if p.Spec.Selector == nil {
			continue
		}
		ws, err := c.Set.PodsMatching(p.Namespace, p.Spec.Selector)
		if err != nil || len(ws) == 0 {
			continue
		}
		var expected int32
		var why []string
		for _, w := range ws {
			lo, _, scaled := c.MinMaxReplicas(w)
			expected += lo
			if scaled {
				why = append(why, fmt.Sprintf("%s can be at its HPA's minReplicas %d", w.Ref(), lo))
			} else {
				why = append(why, fmt.Sprintf("%s runs %d", w.Ref(), lo))
			}
		}
		desc := strings.Join(why, ", ")
		fix := "let at least one pod go: a minAvailable below the smallest replica count, or maxUnavailable ≥ 1; if blocking is intended, annotate the PDB " + BlocksEvictionAnnotation + `: "intended: <why, and how to drain>"`
		switch {
		case p.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(expected), true)
			if err == nil && n <= 0 {
				out = append(out, c.at(p, "spec.maxUnavailable", fmt.Sprintf("maxUnavailable %s allows no voluntary disruption (%s): kubectl drain and node upgrades wait forever", p.Spec.MaxUnavailable.String(), desc), fix))
			}
		case p.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, int(expected), true)
			if err == nil && int32(n) >= expected {
				out = append(out, c.at(p, "spec.minAvailable", fmt.Sprintf("minAvailable %s ≥ the %d pod(s) it covers (%s): no pod may be evicted, so kubectl drain and node upgrades wait forever", p.Spec.MinAvailable.String(), expected, desc), fix))
			}
		}
	}
	return out
}

func checkPDBUnhealthyPolicy(c *Context) []Finding {
	var out []Finding
	for _, p := range c.Set.PDBs {
		if p.Spec.UnhealthyPodEvictionPolicy == nil {
			out = append(out, c.at(p, "spec", "no unhealthyPodEvictionPolicy: the default (IfHealthyBudget) lets a crash-looping pod use up the budget and block every drain",
				"set spec.unhealthyPodEvictionPolicy: AlwaysAllow"))
		}
	}
	return out
}
