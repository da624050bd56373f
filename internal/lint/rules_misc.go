package lint

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/voiceassist/autoscaling/internal/kube"
)

func checkObjectInvalid(c *Context) []Finding {
	var out []Finding
	for _, o := range c.Input.Objects {
		if o.Invalid == "" {
			continue
		}
		out = append(out, c.at(o, o.InvalidField, o.Invalid+": the API server rejects the object (or, with client-side apply, drops the field silently)",
			"fix the field's name or remove the duplicate; `kubectl explain "+strings.ToLower(o.GVK.Kind)+"` lists the valid fields"))
	}
	return out
}

func checkWorkloadIncomplete(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		if w.TemplatePath == "spec.template" && w.Kind != "Job" {
			switch {
			case w.Selector == nil || len(w.Selector.MatchLabels) == 0 && len(w.Selector.MatchExpressions) == 0:
				out = append(out, c.at(w, "spec.selector", w.Kind+" has no spec.selector: the API rejects it, and HPAs, PDBs and Services cannot find its pods",
					"set spec.selector.matchLabels to the pod template's labels (app: <name>)"))
			case len(w.Template.Labels) == 0:
				out = append(out, c.at(w, "spec.template.metadata.labels", "the pod template has no labels: the selector cannot match them and the API rejects the "+w.Kind,
					"set spec.template.metadata.labels to what spec.selector selects"))
			default:
				if sel, err := metav1.LabelSelectorAsSelector(w.Selector); err == nil && !sel.Matches(labels.Set(w.Template.Labels)) {
					out = append(out, c.at(w, "spec.selector", fmt.Sprintf("spec.selector %s does not match the pod template's labels %s: the API rejects the %s", sel.String(), labels.Set(w.Template.Labels).String(), w.Kind),
						"make spec.template.metadata.labels carry every label spec.selector requires"))
				}
			}
		}
		if len(w.Template.Spec.Containers) == 0 {
			out = append(out, c.at(w, w.SpecPath("containers"), "the pod has no containers", "add the container"))
		}
		for _, cr := range allContainers(&w.Template.Spec) {
			if strings.TrimSpace(cr.C.Image) == "" {
				out = append(out, c.at(w, w.SpecPath(cr.Path+".image"), fmt.Sprintf("container %q has no image: the API rejects the pod", cr.C.Name),
					"set the container's image (name and tag)"))
			}
		}
	}
	return out
}

func checkOverlayDropsMetric(c *Context) []Finding {
	var out []Finding
	for _, base := range c.bases {
		for _, bh := range base.Set.HPAs {
			oh := matchingHPA(c, bh)
			if oh == nil {
				f := c.at(base.Object(bh), "", fmt.Sprintf("the overlay %s drops this HPA of its base %s: %s is no longer autoscaled", c.Input.Name, base.Input.Name, bh.Spec.ScaleTargetRef.Name),
					"keep the HPA in the overlay (patch its fields instead of deleting it)")
				f.Severity = Warning
				out = append(out, f)
				continue
			}
			var have []string
			for _, m := range oh.Spec.Metrics {
				have = append(have, kube.MetricKey(m))
			}
			for i, m := range bh.Spec.Metrics {
				k := kube.MetricKey(m)
				if slices.Contains(have, k) {
					continue
				}
				out = append(out, c.at(oh, "spec.metrics",
					fmt.Sprintf("the overlay drops metric %s (%s) that its base %s has at spec.metrics[%d]: the HPA no longer scales on it — a strategic-merge patch of an HPA replaces the whole metrics list", k, kube.MetricTarget(m), base.Input.Name, i),
					"patch only the fields you change with a JSON 6902 patch (op: replace, path: /spec/metrics/<i>/…), or repeat every base metric in the patch"))
			}
		}
	}
	return out
}

// matchingHPA finds the overlay's HPA for a base HPA: same name, else one
// whose name contains it (name prefixes and suffixes), else the one that
// scales the same target.
func matchingHPA(c *Context, bh *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range c.Set.HPAs {
		if h.Name == bh.Name && h.Namespace == bh.Namespace {
			return h
		}
	}
	for _, h := range c.Set.HPAs {
		if strings.Contains(h.Name, bh.Name) {
			return h
		}
	}
	for _, h := range c.Set.HPAs {
		if h.Spec.ScaleTargetRef.Kind == bh.Spec.ScaleTargetRef.Kind && strings.Contains(h.Spec.ScaleTargetRef.Name, bh.Spec.ScaleTargetRef.Name) {
			return h
		}
	}
	return nil
}

var (
	psaOnce      sync.Once
	psaEvaluator psapolicy.Evaluator
	psaErr       error
)

func checkPodSecurity(c *Context) []Finding {
	psaOnce.Do(func() { psaEvaluator, psaErr = psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil) })
	if psaErr != nil {
		return nil
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		var reasons []string
		for _, r := range psaEvaluator.EvaluatePod(lv, &w.Template.ObjectMeta, &w.Template.Spec) {
			if !r.Allowed {
				reasons = append(reasons, r.ForbiddenReason+" ("+r.ForbiddenDetail+")")
			}
		}
		if len(reasons) == 0 {
			continue
		}
		sev, effect := Warning, "the pods would be rejected wherever the namespace enforces \"restricted\""
		if ns := c.Set.Namespace(w.Namespace); ns != nil && ns.Labels[psaapi.EnforceLevelLabel] == string(psaapi.LevelRestricted) {
			sev, effect = Error, fmt.Sprintf("namespace %s enforces \"restricted\", so the API rejects every pod and the workload never scales", w.Namespace)
		}
		f := c.at(w, w.SpecPath(""), fmt.Sprintf("Pod Security \"restricted\" violations: %s: %s", strings.Join(reasons, "; "), effect),
			"set runAsNonRoot: true, seccompProfile.type: RuntimeDefault, allowPrivilegeEscalation: false and capabilities.drop: [ALL]; avoid host namespaces, hostPath and privileged mode")
		f.Severity = sev
		out = append(out, f)
	}
	return out
}
