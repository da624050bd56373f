package doctor

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// The original README's example fix for an evicted gateway: a 3Gi memory
// limit on the server container of voiceassist-server.
const (
	specExampleDeployment = "voiceassist-server"
	specExampleContainer  = "server"
)

var specExampleLimit = resource.MustParse("3Gi")

// oomQuery lists every container's last termination reason: the kubelet
// records an OOM kill in the container status, never as an Event, so the
// README's `kubectl get events --field-selector reason=OOMKilled` finds
// nothing.
func oomQuery(ns string) string {
	return fmt.Sprintf(`kubectl get pods -n %s -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{range .status.containerStatuses[*]}{.name}={.lastState.terminated.reason}@{.lastState.terminated.finishedAt} {end}{"\n"}{end}'`, ns)
}

// checkPods: evicted pods and OOMKilled containers.
func checkPods(s *Snapshot) []Finding {
	var out []Finding
	for i := range s.Pods {
		p := &s.Pods[i]
		ref := "Pod " + s.Namespace + "/" + p.Name
		if p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted" {
			ev := []string{"status: " + p.Status.Message}
			if p.Spec.NodeName != "" {
				ev = append(ev, "node "+p.Spec.NodeName)
			}
			ev = append(ev, s.podEvents(p.Name, "Evicted")...)
			out = append(out, Finding{
				Check: CheckPods, Severity: Warning, Object: ref,
				Message:  "the kubelet evicted the pod: " + p.Status.Message,
				Evidence: ev,
				Confirm:  []string{fmt.Sprintf("kubectl describe pod %s -n %s", p.Name, s.Namespace), fmt.Sprintf("kubectl get events -n %s --field-selector reason=Evicted", s.Namespace), fmt.Sprintf("kubectl top pods -n %s --containers", s.Namespace)},
				Fix:      "node pressure evicts the pods that use most above their requests first: set requests to what the pods use (the VPA's target), and give the nodes room; delete the Failed pod once you have read it",
			})
		}
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.LastTerminationState.Terminated
			if cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled" {
				t = cs.State.Terminated
			}
			if t == nil || t.Reason != "OOMKilled" {
				continue
			}
			out = append(out, s.oomFinding(p, cs, t))
		}
	}
	return out
}

func (s *Snapshot) podEvents(pod string, reasons ...string) []string {
	var out []string
	for i := range s.Events {
		e := &s.Events[i]
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == pod && contains(reasons, e.Reason) {
			out = append(out, fmt.Sprintf("event %s (×%d): %s", e.Reason, max(e.Count, 1), e.Message))
		}
	}
	return out
}

func containerSpec(p *corev1.Pod, name string) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i]
		}
	}
	return nil
}

func (s *Snapshot) oomFinding(p *corev1.Pod, cs corev1.ContainerStatus, t *corev1.ContainerStateTerminated) Finding {
	ref := "Pod " + s.Namespace + "/" + p.Name
	f := Finding{Check: CheckPods, Severity: Warning, Object: ref}
	ev := []string{fmt.Sprintf("container %s: last terminated OOMKilled (exit %d) at %s, %d restarts", cs.Name, t.ExitCode, t.FinishedAt.UTC().Format("2006-01-02 15:04:05"), cs.RestartCount)}
	c := containerSpec(p, cs.Name)
	var limit, request resource.Quantity
	if c != nil {
		limit, request = c.Resources.Limits[corev1.ResourceMemory], c.Resources.Requests[corev1.ResourceMemory]
		ev = append(ev, fmt.Sprintf("memory request %s, limit %s", request.String(), limit.String()))
	}
	if u, ok := s.PodUsage[p.Name][cs.Name]; ok {
		use := u[corev1.ResourceMemory]
		line := "memory use now " + use.String()
		if !limit.IsZero() {
			line += fmt.Sprintf(" (%.0f %% of the limit)", 100*use.AsApproximateFloat64()/limit.AsApproximateFloat64())
		}
		ev = append(ev, line)
	}
	dep := s.podDeployment(p)
	var upper *resource.Quantity
	if dep != nil {
		if q, vpa := s.vpaUpperBound(dep, cs.Name); q != nil {
			upper = q
			ev = append(ev, fmt.Sprintf("VPA %s upper bound for %s: memory %s", vpa, cs.Name, q.String()))
		}
	}
	f.Message = fmt.Sprintf("container %s was OOMKilled: it used more than its %s memory limit", cs.Name, limit.String())
	f.Confirm = []string{fmt.Sprintf("kubectl describe pod %s -n %s", p.Name, s.Namespace), oomQuery(s.Namespace),
		"# not: kubectl get events --field-selector reason=OOMKilled (the kubelet records no such Event; the reason is in lastState.terminated)"}
	// What raising the limit would do to the LimitRange and the quota.
	var cands []resource.Quantity
	if upper != nil && upper.Cmp(limit) > 0 {
		cands = append(cands, *upper)
	}
	if dep != nil && dep.Name == specExampleDeployment && cs.Name == specExampleContainer {
		cands = append(cands, specExampleLimit)
	}
	if len(cands) == 0 && !limit.IsZero() {
		d := limit.DeepCopy()
		d.Add(limit)
		cands = append(cands, d)
	}
	var fix []string
	if dep != nil && c != nil {
		// what could not be read is not checked, and nothing passes it
		var unchecked []string
		for _, err := range []error{s.LimitRangesErr, s.QuotasErr} {
			if err != nil {
				unchecked = append(unchecked, err.Error())
			}
		}
		notChecked := ""
		if len(unchecked) > 0 {
			notChecked = "not checked: " + strings.Join(unchecked, "; ")
		}
		for _, q := range cands {
			probs := s.raiseLimitProblems(dep, cs.Name, request, q)
			what := fmt.Sprintf("a %s limit", q.String())
			if q.Cmp(specExampleLimit) == 0 && dep.Name == specExampleDeployment {
				what += " (the original README's kubectl patch example)"
			}
			switch {
			case len(probs) == 0 && notChecked == "":
				ev = append(ev, what+" passes the LimitRange and the ResourceQuota")
			case len(probs) == 0:
				ev = append(ev, what+": "+notChecked)
			case notChecked == "":
				ev = append(ev, what+" breaks: "+strings.Join(probs, "; "))
			default:
				ev = append(ev, what+" breaks: "+strings.Join(probs, "; ")+"; "+notChecked)
			}
		}
		fix = append(fix, fmt.Sprintf("raise the memory request and limit of %s together in the environment's overlay (limit ≤ the LimitRange's ratio × request, quota ≥ (maxReplicas + 1) × limit), check with vactl lint --env <env>, apply, commit; a leak only spaces the kills out: roll back the release", cs.Name))
	}
	f.Evidence = ev
	f.Fix = strings.Join(fix, " ")
	if f.Fix == "" {
		f.Fix = "raise the memory limit and request together in the manifests"
	}
	return f
}

func (s *Snapshot) podDeployment(p *corev1.Pod) *appsv1.Deployment {
	for _, o := range p.OwnerReferences {
		if o.Kind != "ReplicaSet" {
			continue
		}
		for i := range s.Deployments {
			if strings.HasPrefix(o.Name, s.Deployments[i].Name+"-") {
				return &s.Deployments[i]
			}
		}
	}
	return nil
}

func (s *Snapshot) vpaUpperBound(d *appsv1.Deployment, container string) (*resource.Quantity, string) {
	for _, v := range s.VPAs {
		if v.Spec.TargetRef == nil || v.Spec.TargetRef.Kind != "Deployment" || v.Spec.TargetRef.Name != d.Name || v.Status.Recommendation == nil {
			continue
		}
		for _, r := range v.Status.Recommendation.ContainerRecommendations {
			if r.ContainerName == container {
				if q, ok := r.UpperBound[corev1.ResourceMemory]; ok {
					return &q, v.Name
				}
			}
		}
	}
	return nil, ""
}

// liveSet indexes the live workloads, HPAs, LimitRanges and quotas like
// rendered manifests, so that lint's quota model applies to them.
func (s *Snapshot) liveSet(replace *appsv1.Deployment) *kube.Set {
	set := &kube.Set{}
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if replace != nil && d.Name == replace.Name {
			d = replace
		}
		set.Add(kube.Object{Obj: d, GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Ref: "Deployment " + d.Namespace + "/" + d.Name})
	}
	for i := range s.StatefulSets {
		set.Add(kube.Object{Obj: &s.StatefulSets[i], GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}})
	}
	for i := range s.HPAs {
		set.Add(kube.Object{Obj: &s.HPAs[i], GVK: schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}})
	}
	for i := range s.LimitRanges {
		set.Add(kube.Object{Obj: &s.LimitRanges[i], GVK: schema.GroupVersionKind{Version: "v1", Kind: "LimitRange"}})
	}
	for i := range s.Quotas {
		set.Add(kube.Object{Obj: &s.Quotas[i], GVK: schema.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"}})
	}
	return set
}

// raiseLimitProblems says which rules a memory limit of q on container
// would break: the LimitRange's maxLimitRequestRatio and the quotas'
// limits.memory at every workload's maximum replica count.
func (s *Snapshot) raiseLimitProblems(d *appsv1.Deployment, container string, request, q resource.Quantity) []string {
	var out []string
	if !request.IsZero() {
		for _, lr := range s.LimitRanges {
			for _, it := range lr.Spec.Limits {
				mx, ok := it.MaxLimitRequestRatio[corev1.ResourceMemory]
				if it.Type != corev1.LimitTypeContainer || !ok {
					continue
				}
				ratio := q.AsApproximateFloat64() / request.AsApproximateFloat64()
				if ratio > mx.AsApproximateFloat64() {
					out = append(out, fmt.Sprintf("%s is %.1f× the %s request, over LimitRange %s's maxLimitRequestRatio %s (the Deployment is patched, its new pods are rejected)",
						q.String(), ratio, request.String(), lr.Name, mx.String()))
				}
			}
		}
	}
	nd := d.DeepCopy()
	for i := range nd.Spec.Template.Spec.Containers {
		c := &nd.Spec.Template.Spec.Containers[i]
		if c.Name == container {
			if c.Resources.Limits == nil {
				c.Resources.Limits = corev1.ResourceList{}
			}
			c.Resources.Limits[corev1.ResourceMemory] = q
		}
	}
	set := s.liveSet(nd)
	for _, rq := range s.Quotas {
		if len(rq.Spec.Scopes) > 0 || rq.Spec.ScopeSelector != nil {
			continue
		}
		hard, ok := rq.Spec.Hard[corev1.ResourceLimitsMemory]
		if !ok {
			continue
		}
		var need resource.Quantity
		var parts []string
		for _, w := range set.QuotaWorkloads(rq.Namespace) {
			n := int32(1)
			if w.Replicas != nil {
				n = *w.Replicas
			}
			for _, h := range set.HPAsFor(w) {
				n = max(n, h.Spec.MaxReplicas)
			}
			per, _ := set.PodAmount(w.Namespace, &w.Template.Spec, corev1.ResourceMemory, true)
			for range n {
				need.Add(per)
			}
			parts = append(parts, fmt.Sprintf("%s %d×%s", w.Name, n, per.String()))
		}
		if hard.Cmp(need) < 0 {
			out = append(out, fmt.Sprintf("ResourceQuota %s's limits.memory %s does not hold the %s the workloads need at their maxima (%s)", rq.Name, hard.String(), need.String(), strings.Join(parts, " + ")))
		}
	}
	return out
}
