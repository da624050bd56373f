package recommend

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// quotaKeys are the ResourceQuota keys that count container resources.
var quotaKeys = []struct {
	key   corev1.ResourceName
	res   corev1.ResourceName
	limit bool
}{
	{"limits.cpu", corev1.ResourceCPU, true},
	{"limits.memory", corev1.ResourceMemory, true},
	{"requests.cpu", corev1.ResourceCPU, false},
	{"requests.memory", corev1.ResourceMemory, false},
	{"cpu", corev1.ResourceCPU, false},
	{"memory", corev1.ResourceMemory, false},
}

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
		for _, k := range quotaKeys {
			hard, ok := q.Spec.Hard[k.key]
			if !ok {
				continue
			}
			need, parts := p.need(res, q.Namespace, k.res, k.limit)
			if need <= units(k.res, hard) {
				continue
			}
			if k.limit {
				if p.lowerRatios(res, q.Namespace, k.res, units(k.res, hard)) {
					continue
				}
				need, parts = p.need(res, q.Namespace, k.res, k.limit)
				for i := range res.Containers {
					if c := &res.Containers[i]; c.Namespace == q.Namespace && c.Recommended != nil && p.ratio[containerKey(c)][k.res] > p.band.Min {
						c.Reasons = append(c.Reasons, fmt.Sprintf("%s limit lowered to %s (the band's minimum), still too much for %s spec.hard[%s] %s", k.res, short(k.res, c.Recommended.Limits[k.res]), ref, k.key, hard.String()))
					}
				}
			}
			p.problem(nil, fmt.Sprintf("%s spec.hard[%s] %s is less than the %s the recommended resources need at the workloads' maxima (%s): raise it to at least %s, or lower maxReplicas",
				ref, k.key, hard.String(), fmtUnits(k.res, need), strings.Join(parts, " + "), fmtUnits(k.res, need)))
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

// need sums maxReplicas × the pod's request (or limit) of res over the
// namespace's workloads, with recommended resources where there are some.
func (p *planner) need(res *Result, ns string, r corev1.ResourceName, limit bool) (int64, []string) {
	var total int64
	var parts []string
	for _, w := range p.set.Workloads() {
		if w.Namespace != ns {
			continue
		}
		var per int64
		for ci, ct := range w.Template.Spec.Containers {
			rs := Resources{Requests: ct.Resources.Requests, Limits: ct.Resources.Limits}
			if c := res.find(w, ci); c != nil && c.Recommended != nil {
				rs = *c.Recommended
			}
			if q, ok := p.effective(ns, rs, r, limit); ok {
				per += units(r, q)
			}
		}
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

// effective is a container's request or limit after admission: its own,
// the request defaulted to the limit, or the LimitRange default.
func (p *planner) effective(ns string, rs Resources, r corev1.ResourceName, limit bool) (resource.Quantity, bool) {
	if !limit {
		if q, ok := rs.Requests[r]; ok {
			return q, true
		}
	}
	if q, ok := rs.Limits[r]; ok {
		return q, true
	}
	for _, lr := range p.set.LimitRanges {
		if lr.Namespace != ns {
			continue
		}
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer {
				continue
			}
			if !limit {
				if q, ok := it.DefaultRequest[r]; ok {
					return q, true
				}
			}
			if q, ok := it.Default[r]; ok {
				return q, true
			}
		}
	}
	return resource.Quantity{}, false
}
