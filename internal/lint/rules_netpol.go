package lint

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// checkNetworkPolicyMissing flags, like kube-linter's non-isolated-pod, a
// workload that no NetworkPolicy selects (every pod may reach it and it
// may reach everything), and a namespace of the input's workloads without
// a default deny for ingress and egress (a policy selecting every pod,
// with that policy type and no rule for it), so that a workload added
// later is isolated too.
func checkNetworkPolicyMissing(c *Context) []Finding {
	var out []Finding
	byNS := map[string][]*networkingv1.NetworkPolicy{}
	for _, p := range c.Set.NetworkPolicies {
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	reported := map[string]bool{}
	for _, w := range c.Set.Workloads() {
		policies := byNS[w.Namespace]
		if !reported[w.Namespace] {
			reported[w.Namespace] = true
			if missing := defaultDenyMissing(policies); len(missing) > 0 {
				out = append(out, c.namespaceFinding(w,
					fmt.Sprintf("namespace %s has no default-deny NetworkPolicy for %s: a pod no other policy selects accepts and opens any connection", nsName(w.Namespace), joinTypes(missing)),
					"add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress, Egress] and no rules, then allow what each workload needs"))
			}
		}
		if !slices.ContainsFunc(policies, func(p *networkingv1.NetworkPolicy) bool { return selects(p, w) }) {
			out = append(out, c.at(w, podLabelsPath(w),
				fmt.Sprintf("no NetworkPolicy selects the pods of %s (labels %s): any pod in the cluster can reach them, and they can reach anything", w.Ref(), selectorText(w.Template.Labels)),
				"select the pods with a NetworkPolicy that allows only the traffic they need (and a default deny in the namespace)"))
		}
	}
	return out
}

// defaultDenyMissing returns the policy types (Ingress, Egress) that no
// default-deny policy of the namespace covers.
func defaultDenyMissing(policies []*networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	covered := map[networkingv1.PolicyType]bool{}
	for _, p := range policies {
		sel := p.Spec.PodSelector
		if len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) > 0 {
			continue
		}
		for _, t := range policyTypes(p) {
			if (t == networkingv1.PolicyTypeIngress && len(p.Spec.Ingress) == 0) || (t == networkingv1.PolicyTypeEgress && len(p.Spec.Egress) == 0) {
				covered[t] = true
			}
		}
	}
	var missing []networkingv1.PolicyType
	for _, t := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		if !covered[t] {
			missing = append(missing, t)
		}
	}
	return missing
}

// policyTypes applies the API's default: Ingress always, Egress when the
// policy has egress rules.
func policyTypes(p *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(p.Spec.PolicyTypes) > 0 {
		return p.Spec.PolicyTypes
	}
	if len(p.Spec.Egress) > 0 {
		return []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	}
	return []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
}

func selects(p *networkingv1.NetworkPolicy, w kube.Workload) bool {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
	return err == nil && sel.Matches(labels.Set(w.Template.Labels))
}

// podLabelsPath is the JSON path of the workload's pod labels.
func podLabelsPath(w kube.Workload) string {
	if w.TemplatePath == "" {
		return "metadata.labels"
	}
	return w.TemplatePath + ".metadata.labels"
}

// namespaceFinding puts a namespace's finding on its Namespace object when
// the input has it, else on the first workload in it.
func (c *Context) namespaceFinding(w kube.Workload, msg, fix string) Finding {
	for _, n := range c.Set.Namespaces {
		if n.Name == w.Namespace {
			return c.at(n, "metadata.name", msg, fix)
		}
	}
	return c.at(w, "metadata.namespace", msg, fix)
}

func nsName(ns string) string {
	if ns == "" {
		return "(default)"
	}
	return ns
}

func joinTypes(ts []networkingv1.PolicyType) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += " and "
		}
		s += string(t)
	}
	return s
}
