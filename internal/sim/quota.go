package sim

import (
	"fmt"
	"math"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// quota is the namespace's ResourceQuotas as admission applies them to the
// pods the ReplicaSets create: a pod is created only if every quota still
// has room for its requests and limits. Pods of the other workloads of the
// namespace (the StatefulSets, the queue exporter) use their share from the
// start; a pod frees its share when it is gone (terminating pods still count,
// as they do in the API server).
type quota struct {
	limits []quotaLimit
}

type quotaLimit struct {
	ref      string // "ResourceQuota ns/name: pods"
	resource corev1.ResourceName
	hard     float64 // pods, millicores or bytes
	used     float64
}

// podCost is what one pod counts against a quota.
type podCost map[corev1.ResourceName]float64

// costOf sums the containers of a pod template (init containers ignored:
// they do not run next to the others).
func costOf(spec *corev1.PodSpec) podCost {
	c := podCost{corev1.ResourcePods: 1}
	for _, ct := range spec.Containers {
		for name, q := range ct.Resources.Requests {
			c[quotaName("requests.", name)] += quantity(name, q.MilliValue())
		}
		for name, q := range ct.Resources.Limits {
			c[quotaName("limits.", name)] += quantity(name, q.MilliValue())
		}
	}
	c[corev1.ResourceCPU] = c[corev1.ResourceRequestsCPU]
	c[corev1.ResourceMemory] = c[corev1.ResourceRequestsMemory]
	return c
}

func quotaName(prefix string, n corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(prefix + string(n))
}

// quantity keeps CPU in millicores and everything else in whole units.
func quantity(n corev1.ResourceName, milli int64) float64 {
	if n == corev1.ResourceCPU {
		return float64(milli)
	}
	return float64(milli) / 1000
}

// newQuota reads the ResourceQuotas of namespace ns and charges them with the
// pods of every workload there except the modelled ones (skip).
func newQuota(set *kube.Set, ns string, skip ...string) *quota {
	q := &quota{}
	for _, rq := range set.ResourceQuotas {
		if rq.Namespace != ns {
			continue
		}
		names := make([]string, 0, len(rq.Spec.Hard))
		for n := range rq.Spec.Hard {
			names = append(names, string(n))
		}
		sort.Strings(names)
		for _, n := range names {
			rn := corev1.ResourceName(n)
			switch rn {
			case corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceRequestsCPU,
				corev1.ResourceRequestsMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory:
			default:
				continue // object counts, storage: not what scaling a Deployment uses
			}
			hq := rq.Spec.Hard[rn]
			base := rn
			if rn == corev1.ResourceLimitsCPU || rn == corev1.ResourceRequestsCPU {
				base = corev1.ResourceCPU
			}
			q.limits = append(q.limits, quotaLimit{ref: fmt.Sprintf("ResourceQuota %s/%s %s", rq.Namespace, rq.Name, n), resource: rn, hard: quantity(base, hq.MilliValue())})
		}
	}
	if len(q.limits) == 0 {
		return q
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	for _, d := range set.Deployments {
		if d.Namespace == ns && !skipped[d.Name] {
			q.charge(costOf(&d.Spec.Template.Spec), float64(replicas(d.Spec.Replicas)))
		}
	}
	for _, s := range set.StatefulSets {
		if s.Namespace == ns {
			q.charge(costOf(&s.Spec.Template.Spec), float64(replicas(s.Spec.Replicas)))
		}
	}
	return q
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func (q *quota) charge(c podCost, n float64) {
	for i := range q.limits {
		q.limits[i].used += c[q.limits[i].resource] * n
	}
}

// admit charges one pod, or returns the first limit it would exceed.
func (q *quota) admit(c podCost) (held string) {
	for i := range q.limits {
		l := &q.limits[i]
		if l.used+c[l.resource] > l.hard+1e-9 {
			return fmt.Sprintf("%s: %s of %s used", l.ref, amount(l.resource, l.used), amount(l.resource, l.hard))
		}
	}
	q.charge(c, 1)
	return ""
}

func (q *quota) release(c podCost) { q.charge(c, -1) }

func amount(n corev1.ResourceName, v float64) string {
	switch n {
	case corev1.ResourcePods:
		return fmt.Sprintf("%.0f", v)
	case corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU:
		return fmt.Sprintf("%gm", math.Round(v))
	default:
		return fmt.Sprintf("%.4gGi", v/(1<<30))
	}
}
