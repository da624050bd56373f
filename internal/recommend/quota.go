package recommend

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// fitQuotas checks every unscoped ResourceQuota against the workloads at
// their maxima (HPA maxReplicas × the pod's resources, as `vactl lint`
// counts). When the limits do not fit, the recommended containers' limit
// ratios come down in quarter steps, only as far as needed, to the band's
// minimum; what still does not fit is a problem.
func (p *planner) fitQuotas(res *Result) {
	for _, q := range p.set.ResourceQuotas {
		if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
			continue // a scoped quota counts only some pods
		}
		ref := "ResourceQuota " + q.Namespace + "/" + q.Name
		for _, k := range kube.QuotaKeys {
			hard, ok := q.Spec.Hard[k.Key]
			if !ok {
				continue
			}
			need, parts := p.need(res, q.Namespace, k.Resource, k.Limit)
			if need <= units(k.Resource, hard) {
				continue
			}
			if k.Limit {
				if p.lowerRatios(res, q.Namespace, k.Resource, units(k.Resource, hard)) {
					continue
				}
				need, parts = p.need(res, q.Namespace, k.Resource, k.Limit)
				for i := range res.Containers {
					if c := &res.Containers[i]; c.Namespace == q.Namespace && c.Recommended != nil && p.ratio[containerKey(c)][k.Resource] > p.band.Min {
						c.Reasons = append(c.Reasons, fmt.Sprintf("%s limit lowered to %s (the band's minimum), still too much for %s spec.hard[%s] %s", k.Resource, short(k.Resource, c.Recommended.Limits[k.Resource]), ref, k.Key, hard.String()))
					}
				}
			}
			p.problem(nil, fmt.Sprintf("%s spec.hard[%s] %s is less than the %s the recommended resources need at the workloads' maxima (%s): raise it to at least %s, or lower maxReplicas",
				ref, k.Key, hard.String(), fmtUnits(k.Resource, need), strings.Join(parts, " + "), fmtUnits(k.Resource, need)))
		}
	}
	res.Problems = append(res.Problems, p.problems...)
}

// lowerRatios looks for the largest limit/request ratio, in quarter steps
// from the band's maximum down to its minimum, that fits the namespace's
// planned limits of res under hard, and applies it to every planned
// container whose ratio is higher. It reports whether they fit.
func (p *planner) lowerRatios(res *Result, ns string, r corev1.ResourceName, hard int64) bool {
	apply := func(ratio float64) {
		for i := range res.Containers {
			c := &res.Containers[i]
			key := containerKey(c)
			if c.Namespace != ns || c.Recommended == nil {
				continue
			}
			req := units(r, c.Recommended.Requests[r])
			lim := limitFor(r, req, math.Min(p.ratio[key][r], ratio))
			if r == corev1.ResourceMemory {
				lim = max(lim, p.memFloor[key])
			}
			if _, hi, _, _ := p.containerLimits(ns, r); hi != nil && lim > units(r, *hi) {
				lim = units(r, *hi)
			}
			c.Recommended.Limits[r] = quantity(r, lim)
		}
	}
	for ratio := p.band.Max; ratio >= p.band.Min-1e-9; ratio -= 0.25 {
		apply(ratio)
		if need, _ := p.need(res, ns, r, true); need <= hard {
			for i := range res.Containers {
				c := &res.Containers[i]
				key := containerKey(c)
				if c.Namespace == ns && c.Recommended != nil && p.ratio[key][r] > ratio {
					p.ratio[key][r] = ratio
					c.Reasons = append(c.Reasons, fmt.Sprintf("%s limit lowered to %s (%g× at most) to fit the namespace's ResourceQuota at the workloads' maxima", r, short(r, c.Recommended.Limits[r]), ratio))
				}
			}
			return true
		}
	}
	return false
}

// need sums maxReplicas × the pod's request (or limit) of r over the
// workloads the quota counts, with recommended resources where there are
// some. One pod counts as `vactl lint` counts it (kube.Set.PodAmount: init
// containers and sidecars too, LimitRange defaults filled in), so a fit
// here is a fit there.
func (p *planner) need(res *Result, ns string, r corev1.ResourceName, limit bool) (int64, []string) {
	var total int64
	var parts []string
	for _, w := range p.set.QuotaWorkloads(ns) {
		spec := w.Template.Spec
		spec.Containers = slices.Clone(spec.Containers)
		for ci := range spec.Containers {
			if c := res.find(w, ci); c != nil && c.Recommended != nil {
				spec.Containers[ci].Resources = corev1.ResourceRequirements{Requests: c.Recommended.Requests, Limits: c.Recommended.Limits}
			}
		}
		amount, _ := p.set.PodAmount(ns, &spec, r, limit) // a container without one: lint's quota rule reports it
		per := units(r, amount)
		n := maxReplicas(p.set, w)
		total += n * per
		parts = append(parts, fmt.Sprintf("%s %d×%s", w.Name, n, fmtUnits(r, per)))
	}
	return total, parts
}

func (res *Result) find(w kube.Workload, index int) *Container {
	for i := range res.Containers {
		c := &res.Containers[i]
		if c.Kind == w.Kind && c.Namespace == w.Namespace && c.Workload == w.Name && c.Index == index {
			return c
		}
	}
	return nil
}
