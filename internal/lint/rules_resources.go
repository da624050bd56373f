package lint

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/voiceassist/autoscaling/internal/kube"
)

var cpuMem = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

func checkResourcesMissing(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		for _, cr := range allContainers(&w.Template.Spec) {
			var missing []string
			for _, r := range cpuMem {
				if _, ok := c.Set.Effective(w.Namespace, cr.C.Resources, r, false); !ok {
					missing = append(missing, "requests."+string(r))
				}
				if _, ok := c.Set.Effective(w.Namespace, cr.C.Resources, r, true); !ok {
					missing = append(missing, "limits."+string(r))
				}
			}
			if len(missing) == 0 {
				continue
			}
			var why []string
			if strings.Contains(strings.Join(missing, ","), "requests.") {
				why = append(why, "without requests the scheduler and the HPA's utilization have no baseline")
			}
			if strings.Contains(strings.Join(missing, ","), "limits.") {
				why = append(why, "without limits one pod can starve its node")
			}
			out = append(out, c.at(w, w.SpecPath(cr.Path+".resources"),
				fmt.Sprintf("container %q sets no %s (and no LimitRange default fills it): %s", cr.C.Name, strings.Join(missing, ", "), strings.Join(why, "; ")),
				fmt.Sprintf("set resources.requests and resources.limits for cpu and memory on container %q", cr.C.Name)))
		}
	}
	return out
}

func checkLimitRatio(c *Context) []Finding {
	band := c.Config.LimitRequestRatio
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		for _, cr := range allContainers(&w.Template.Spec) {
			for _, r := range cpuMem {
				req, ok1 := cr.C.Resources.Requests[r]
				lim, ok2 := cr.C.Resources.Limits[r]
				if !ok1 || !ok2 || req.IsZero() {
					continue
				}
				ratio := lim.AsApproximateFloat64() / req.AsApproximateFloat64()
				if ratio >= band.Min-1e-9 && ratio <= band.Max+1e-9 {
					continue
				}
				why := "limits this close to requests throttle (cpu) or OOM-kill (memory) the pod on any burst"
				if ratio > band.Max {
					why = "pods can burst far past what the scheduler reserved, so a busy node overcommits and evicts"
				}
				out = append(out, c.at(w, w.SpecPath(fmt.Sprintf("%s.resources.limits.%s", cr.Path, r)),
					fmt.Sprintf("container %q: %s limit %s is %.2g× its request %s, outside %g–%g×: %s", cr.C.Name, r, lim.String(), ratio, req.String(), band.Min, band.Max, why),
					fmt.Sprintf("set the %s limit between %g× and %g× the request (or change the band with --limit-ratio / .vactl.yaml)", r, band.Min, band.Max)))
			}
		}
	}
	return out
}

func checkQuota(c *Context) []Finding {
	var out []Finding
	for _, q := range c.Set.ResourceQuotas {
		if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
			continue // scoped quotas count only some pods
		}
		ws := c.Set.QuotaWorkloads(q.Namespace)
		if len(ws) == 0 {
			continue
		}
		for _, k := range kube.QuotaKeys {
			hard, ok := q.Spec.Hard[k.Key]
			if !ok {
				continue
			}
			var need resource.Quantity
			var parts []string
			for _, w := range ws {
				_, hi, scaled := c.MinMaxReplicas(w)
				per, missing := c.Set.PodAmount(w.Namespace, &w.Template.Spec, k.Resource, k.Limit)
				if len(missing) > 0 {
					out = append(out, c.at(q, fmt.Sprintf("spec.hard[%s]", k.Key),
						fmt.Sprintf("the quota on %s rejects every pod of %s: container %s sets no %s and no LimitRange default fills it", k.Key, w.Ref(), strings.Join(missing, ", "), k.Key),
						fmt.Sprintf("set %s on every container of %s, or a LimitRange default in namespace %s", k.Key, w.Ref(), q.Namespace)))
					continue
				}
				tot := per.DeepCopy()
				for i := int32(1); i < hi; i++ {
					tot.Add(per)
				}
				need.Add(tot)
				src := "replicas"
				if scaled {
					src = "HPA maxReplicas"
				}
				parts = append(parts, fmt.Sprintf("%s %d×%s (%s)", w.Name, hi, per.String(), src))
			}
			if hard.Cmp(need) < 0 {
				out = append(out, c.at(q, fmt.Sprintf("spec.hard[%s]", k.Key),
					fmt.Sprintf("%s: %s is less than the %s the workloads need at their maxima (%s): the HPAs stop short of maxReplicas with FailedCreate when load peaks", k.Key, hard.String(), fmtQuantity(need, k.Resource), strings.Join(parts, " + ")),
					fmt.Sprintf("raise spec.hard[%s] to at least %s (plus room for rolling-update surge pods)", k.Key, fmtQuantity(need, k.Resource))))
			}
		}
		if hard, ok := q.Spec.Hard[corev1.ResourcePods]; ok {
			var need int64
			for _, w := range ws {
				_, hi, _ := c.MinMaxReplicas(w)
				need += int64(hi)
			}
			if hard.Value() < need {
				out = append(out, c.at(q, "spec.hard[pods]", fmt.Sprintf("pods: %d is less than the %d pods the workloads reach at their maxima", hard.Value(), need),
					fmt.Sprintf("raise spec.hard[pods] to at least %d", need)))
			}
		}
	}
	return out
}

func fmtQuantity(q resource.Quantity, res corev1.ResourceName) string {
	if res == corev1.ResourceCPU {
		m := q.MilliValue()
		if m%1000 == 0 {
			return fmt.Sprint(m / 1000)
		}
		return fmt.Sprintf("%dm", m)
	}
	v := q.Value()
	const gi = 1 << 30
	if v%gi == 0 {
		return fmt.Sprintf("%dGi", v/gi)
	}
	return fmt.Sprintf("%dMi", (v+(1<<20)-1)>>20)
}

func checkLimitRange(c *Context) []Finding {
	var out []Finding
	for _, lr := range c.Set.LimitRanges {
		for li, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer && it.Type != corev1.LimitTypePod {
				continue
			}
			for _, w := range c.Set.WorkloadsIn(lr.Namespace) {
				if w.Template == nil {
					continue
				}
				ref := fmt.Sprintf("LimitRange %s spec.limits[%d]", lr.Name, li)
				if it.Type == corev1.LimitTypePod {
					for _, r := range sortedResources(it.Max) {
						mx := it.Max[r]
						if tot, missing := c.Set.PodAmount(w.Namespace, &w.Template.Spec, r, true); len(missing) == 0 && tot.Cmp(mx) > 0 {
							out = append(out, c.at(w, w.SpecPath("containers"), fmt.Sprintf("the pod's %s limits total %s, above %s max %s: the API rejects every pod of %s", r, tot.String(), ref, mx.String(), w.Ref()),
								fmt.Sprintf("lower the containers' %s limits or raise the LimitRange's Pod max", r)))
						}
					}
					continue
				}
				for _, cr := range allContainers(&w.Template.Spec) {
					for _, r := range sortedResources(it.Max) {
						mx := it.Max[r]
						if l, ok := c.Set.Effective(w.Namespace, cr.C.Resources, r, true); ok && l.Cmp(mx) > 0 {
							out = append(out, c.at(w, w.SpecPath(fmt.Sprintf("%s.resources.limits.%s", cr.Path, r)),
								fmt.Sprintf("container %q: %s limit %s is above %s max %s: the API rejects every pod of %s (Forbidden: maximum %s usage per Container is %s)", cr.C.Name, r, l.String(), ref, mx.String(), w.Ref(), r, mx.String()),
								fmt.Sprintf("lower the %s limit to at most %s, or raise the LimitRange max", r, mx.String())))
						}
					}
					for _, r := range sortedResources(it.Min) {
						mn := it.Min[r]
						if q, ok := c.Set.Effective(w.Namespace, cr.C.Resources, r, false); ok && q.Cmp(mn) < 0 {
							out = append(out, c.at(w, w.SpecPath(fmt.Sprintf("%s.resources.requests.%s", cr.Path, r)),
								fmt.Sprintf("container %q: %s request %s is below %s min %s: the API rejects every pod of %s", cr.C.Name, r, q.String(), ref, mn.String(), w.Ref()),
								fmt.Sprintf("raise the %s request to at least %s", r, mn.String())))
						}
					}
					for _, r := range sortedResources(it.MaxLimitRequestRatio) {
						mx := it.MaxLimitRequestRatio[r]
						req, ok1 := c.Set.Effective(w.Namespace, cr.C.Resources, r, false)
						lim, ok2 := c.Set.Effective(w.Namespace, cr.C.Resources, r, true)
						if ok1 && ok2 && !req.IsZero() && lim.AsApproximateFloat64()/req.AsApproximateFloat64() > mx.AsApproximateFloat64()+1e-9 {
							out = append(out, c.at(w, w.SpecPath(fmt.Sprintf("%s.resources.limits.%s", cr.Path, r)),
								fmt.Sprintf("container %q: %s limit/request %s/%s is above %s maxLimitRequestRatio %s: the API rejects every pod of %s", cr.C.Name, r, lim.String(), req.String(), ref, mx.String(), w.Ref()),
								fmt.Sprintf("bring the %s limit within %s× the request", r, mx.String())))
						}
					}
				}
			}
		}
	}
	return out
}

func sortedResources(l corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for r := range l {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
