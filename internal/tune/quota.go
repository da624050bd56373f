package tune

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// quotaFit checks that the workloads at their maxima fit the namespace's
// ResourceQuotas, counted as vactl lint counts them (every scalable
// workload at its HPA's maxReplicas or its replicas, per-pod requests and
// limits after LimitRange defaults), so that a pick never makes lint fail
// and the HPAs never stop short of maxReplicas for the quota. The HPAs'
// maxReplicas are the setting's; the other workloads are fixed.
type quotaFit struct {
	limits []quotaLimit
}

type quotaLimit struct {
	what  string // "ResourceQuota voiceassist/voiceassist-quota spec.hard[pods]"
	hard  float64
	fixed float64            // the workloads the search does not scale
	per   map[string]float64 // per pod of a tuned Deployment, by name
}

func newQuotaFit(set *kube.Set) (quotaFit, error) {
	var q quotaFit
	for _, rq := range set.ResourceQuotas {
		if len(rq.Spec.Scopes) > 0 || rq.Spec.ScopeSelector != nil {
			continue
		}
		ws := set.QuotaWorkloads(rq.Namespace)
		add := func(key corev1.ResourceName, hard float64, per func(w kube.Workload) (float64, error)) error {
			l := quotaLimit{what: fmt.Sprintf("ResourceQuota %s/%s spec.hard[%s]", rq.Namespace, rq.Name, key), hard: hard, per: map[string]float64{}}
			for _, w := range ws {
				p, err := per(w)
				if err != nil {
					return err
				}
				if tunedMax(set, w) {
					l.per[w.Name] = p
					continue
				}
				n := int32(1)
				if w.Replicas != nil {
					n = *w.Replicas
				}
				for _, h := range set.HPAsFor(w) {
					n = max(n, h.Spec.MaxReplicas)
				}
				l.fixed += float64(n) * p
			}
			q.limits = append(q.limits, l)
			return nil
		}
		for _, k := range kube.QuotaKeys {
			hard, ok := rq.Spec.Hard[k.Key]
			if !ok {
				continue
			}
			err := add(k.Key, hard.AsApproximateFloat64(), func(w kube.Workload) (float64, error) {
				amt, missing := set.PodAmount(w.Namespace, &w.Template.Spec, k.Resource, k.Limit)
				if len(missing) > 0 {
					return 0, fmt.Errorf("ResourceQuota %s/%s spec.hard[%s]: container %s of %s sets no %s", rq.Namespace, rq.Name, k.Key, strings.Join(missing, ", "), w.Ref(), k.Key)
				}
				return amt.AsApproximateFloat64(), nil
			})
			if err != nil {
				return q, err
			}
		}
		if hard, ok := rq.Spec.Hard[corev1.ResourcePods]; ok {
			_ = add(corev1.ResourcePods, hard.AsApproximateFloat64(), func(kube.Workload) (float64, error) { return 1, nil })
		}
	}
	return q, nil
}

// tunedMax: the workload is a Deployment whose HPA's maxReplicas the search sets.
func tunedMax(set *kube.Set, w kube.Workload) bool {
	return w.Kind == "Deployment" && len(set.HPAsFor(w)) > 0 && isModelled(w.Name)
}

// fits says the maxima (by Deployment name) fit every quota.
func (q quotaFit) fits(maxima map[string]int64) bool { return q.violation(maxima) == "" }

// violation names the first quota the maxima exceed ("" when none).
func (q quotaFit) violation(maxima map[string]int64) string {
	for _, l := range q.limits {
		need := l.fixed
		for name, per := range l.per {
			need += float64(maxima[name]) * per
		}
		if need > l.hard*(1+1e-9) {
			return fmt.Sprintf("%s: %g needed at the maxima, %g allowed", l.what, need, l.hard)
		}
	}
	return ""
}
