package recommend

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// Band is the allowed limit/request ratio (`vactl lint`'s
// resources-limit-ratio band, 2–4 by default).
type Band struct{ Min, Max float64 }

// Options configure Recommend.
type Options struct {
	VPA  VPAConfig
	Band Band
}

// DefaultOptions are the VPA recommender's defaults and the 2–4× band.
func DefaultOptions() Options { return Options{VPA: DefaultVPAConfig(), Band: Band{Min: 2, Max: 4}} }

// Resources are a container's requests and limits.
type Resources struct {
	Requests corev1.ResourceList `json:"requests,omitempty"`
	Limits   corev1.ResourceList `json:"limits,omitempty"`
}

// Container is the recommendation for one container of one workload.
type Container struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	Container string `json:"container"`
	// Index is the container's position in spec.template.spec.containers,
	// which the patch addresses.
	Index   int       `json:"index"`
	Current Resources `json:"current"`
	// Recommended is nil when no source had data for the container.
	Recommended *Resources `json:"recommended,omitempty"`
	// Changed says the patch sets Recommended.
	Changed bool      `json:"changed"`
	VPA     *Estimate `json:"vpa,omitempty"`
	// Given is a source's ready-made recommendation, when it had one.
	Given   *Given     `json:"given,omitempty"`
	KRR     *KRRSimple `json:"krrSimple,omitempty"`
	Reasons []string   `json:"reasons"`
	// Pods are the pods whose samples were used.
	Pods []string `json:"pods,omitempty"`
}

// Ref names the workload as "Kind namespace/name".
func (c *Container) Ref() string { return c.Kind + " " + c.Namespace + "/" + c.Workload }

// Result is a recommendation for one environment.
type Result struct {
	Env        string      `json:"env"`
	Sources    []string    `json:"sources"`
	Containers []Container `json:"containers"`
	// Unmatched are pods in the data that no workload of the environment
	// owns (other apps, or pods of a renamed workload).
	Unmatched []string `json:"unmatchedPods,omitempty"`
	// Problems are constraints the recommendation cannot meet (a quota too
	// small, a LimitRange maximum below the need). They make
	// `vactl recommend` exit 1.
	Problems []string `json:"problems,omitempty"`
}

// Recommend turns observations into requests and limits for every container
// of the set's workloads.
func Recommend(set *kube.Set, obs *Observations, opt Options) (*Result, error) {
	if opt.Band.Min <= 0 || opt.Band.Max < opt.Band.Min {
		return nil, fmt.Errorf("limit/request band %g-%g: want 0 < min <= max", opt.Band.Min, opt.Band.Max)
	}
	ws := set.Workloads()
	hist := make([]map[string]*containerHistory, len(ws))
	unmatched := map[string]bool{}
	get := func(ns, pod, ctr string) *containerHistory {
		i := ownerOf(ws, ns, pod)
		if i < 0 {
			unmatched[qualified(ns, pod)] = true
			return nil
		}
		if hist[i] == nil {
			hist[i] = map[string]*containerHistory{}
		}
		h := hist[i][ctr]
		if h == nil {
			h = &containerHistory{pods: map[string][]Sample{}, ooms: map[string][]time.Time{}}
			hist[i][ctr] = h
		}
		return h
	}
	for _, s := range obs.Samples {
		if h := get(s.Namespace, s.Pod, s.Container); h != nil {
			h.pods[s.Pod] = append(h.pods[s.Pod], s)
		}
	}
	for _, o := range obs.OOMs {
		if h := get(o.Namespace, o.Pod, o.Container); h != nil {
			h.ooms[o.Pod] = append(h.ooms[o.Pod], o.Time)
		}
	}
	given := map[string]Given{}
	for _, g := range obs.Recommendations {
		given[g.Kind+"/"+g.Namespace+"/"+g.Name+"/"+g.Container] = g
	}

	est := newEstimator(opt.VPA)
	res := &Result{}
	for u := range unmatched {
		res.Unmatched = append(res.Unmatched, u)
	}
	sort.Strings(res.Unmatched)
	p := &planner{set: set, band: opt.Band, vpa: opt.VPA}
	for i, w := range ws {
		reqMem := map[string]float64{}
		for _, c := range w.Template.Spec.Containers {
			if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
				reqMem[c.Name] = q.AsApproximateFloat64()
			}
		}
		var ests map[string]Estimate
		if hist[i] != nil {
			ests = est.estimate(hist[i], reqMem)
		}
		hpa := hpaResources(set, w)
		for ci, c := range w.Template.Spec.Containers {
			rc := Container{
				Kind: w.Kind, Namespace: w.Namespace, Workload: w.Name, Container: c.Name, Index: ci,
				Current: Resources{Requests: c.Resources.Requests.DeepCopy(), Limits: c.Resources.Limits.DeepCopy()},
			}
			var target Amounts
			switch g, ok := given[w.Kind+"/"+w.Namespace+"/"+w.Name+"/"+c.Name]; {
			case ok:
				rc.Given = &g
				target = g.Target
				rc.Reasons = append(rc.Reasons, fmt.Sprintf("target %s from %s", fmtAmounts(g.Target), g.From))
			case hist[i] != nil && hist[i][c.Name] != nil:
				h := hist[i][c.Name]
				e := ests[c.Name]
				rc.VPA = &e
				k := krrSimple(h, hpa)
				rc.KRR = &k
				for pod := range h.pods {
					rc.Pods = append(rc.Pods, pod)
				}
				sort.Strings(rc.Pods)
				target = e.Target
				rc.Reasons = append(rc.Reasons, vpaReasons(e, opt.VPA, len(ests))...)
			default:
				rc.Reasons = append(rc.Reasons, "no samples: keeps its current resources")
				res.Containers = append(res.Containers, rc)
				continue
			}
			p.plan(&rc, target, memoryLimitFloor(&w.Template.Spec.Containers[ci]))
			res.Containers = append(res.Containers, rc)
		}
	}
	p.fitQuotas(res)
	for i := range res.Containers {
		c := &res.Containers[i]
		if c.Recommended != nil {
			c.Changed = !sameResources(c.Current, *c.Recommended)
			if !c.Changed {
				c.Reasons = append(c.Reasons, "the current resources already match")
			}
		}
	}
	return res, nil
}

// ownerOf finds the workload whose pods are named like pod: a Deployment's
// <name>-<replicaset hash>-<suffix>, a StatefulSet's <name>-<ordinal>. The
// longest matching name wins (voiceassist-server-x is not voiceassist-s…).
// An empty namespace matches any.
func ownerOf(ws []kube.Workload, ns, pod string) int {
	best, bestLen := -1, 0
	for i, w := range ws {
		if ns != "" && w.Namespace != ns {
			continue
		}
		rest, ok := strings.CutPrefix(pod, w.Name+"-")
		if !ok || len(w.Name) <= bestLen {
			continue
		}
		if (w.Kind == "Deployment" && deploymentPodSuffix.MatchString(rest)) ||
			(w.Kind == "StatefulSet" && statefulSetPodSuffix.MatchString(rest)) {
			best, bestLen = i, len(w.Name)
		}
	}
	return best
}

var (
	deploymentPodSuffix  = regexp.MustCompile(`^[a-z0-9]{1,10}-[a-z0-9]{5}$`)
	statefulSetPodSuffix = regexp.MustCompile(`^[0-9]+$`)
)

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// hpaResources lists the resources (cpu, memory) an HPA of w scales on.
func hpaResources(set *kube.Set, w kube.Workload) map[string]bool {
	out := map[string]bool{}
	for _, h := range set.HPAs {
		if h.Namespace != w.Namespace || h.Spec.ScaleTargetRef.Kind != w.Kind || h.Spec.ScaleTargetRef.Name != w.Name {
			continue
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource != nil {
				out[string(m.Resource.Name)] = true
			}
			if m.ContainerResource != nil {
				out[string(m.ContainerResource.Name)] = true
			}
		}
	}
	return out
}

// maxReplicas is the most pods w runs: the largest maxReplicas of the HPAs
// that target it, else spec.replicas, else 1 — what `vactl lint`'s quota
// rule counts.
func maxReplicas(set *kube.Set, w kube.Workload) int64 {
	if hpas := set.HPAsFor(w); len(hpas) > 0 {
		var n int32
		for _, h := range hpas {
			n = max(n, h.Spec.MaxReplicas)
		}
		return int64(n)
	}
	if w.Replicas != nil {
		return int64(*w.Replicas)
	}
	return 1
}

func vpaReasons(e Estimate, cfg VPAConfig, containers int) []string {
	margin := cfg.SafetyMarginFraction * 100
	minCPU := cfg.PodMinCPUMillicores / float64(containers)
	minMem := cfg.PodMinMemoryMb / float64(containers)
	var out []string
	if e.CPUSamples > 0 {
		s := fmt.Sprintf("cpu: p%g of %s over %s = %s, +%g%% margin", cfg.TargetCPUPercentile*100, plural(e.CPUSamples, "sample"), fmtSpan(e.Span), fmtCPU(e.CPUPercentile), margin)
		if e.Target.CPUCores*1000 <= minCPU+0.5 && e.CPUPercentile*(1+cfg.SafetyMarginFraction)*1000 < minCPU {
			s += fmt.Sprintf(", raised to the pod minimum %gm/%d container(s)", cfg.PodMinCPUMillicores, containers)
		}
		out = append(out, s+" → "+fmtCPU(e.Target.CPUCores))
	} else {
		out = append(out, fmt.Sprintf("cpu: no samples, the pod minimum %gm/%d container(s) → %s", cfg.PodMinCPUMillicores, containers, fmtCPU(e.Target.CPUCores)))
	}
	s := fmt.Sprintf("memory: p%g of %s (%s peaks, from %s) = %s, +%g%% margin", cfg.TargetMemoryPercentile*100, plural(e.MemoryPeaks, "peak"), fmtSpan(cfg.MemoryAggregationInterval), plural(e.MemorySamples, "sample"), fmtMem(e.MemoryPercentile), margin)
	if e.OOMs > 0 {
		s += fmt.Sprintf(", with %d OOM kill(s) bumped ×%g (at least +%s)", e.OOMs, cfg.OOMBumpUpRatio, fmtMem(cfg.OOMMinBumpUpBytes))
	}
	if e.MemoryPercentile*(1+cfg.SafetyMarginFraction) < minMem*(1<<20) {
		s += fmt.Sprintf(", raised to the pod minimum %gMi/%d container(s)", cfg.PodMinMemoryMb, containers)
	}
	out = append(out, s+" → "+fmtMem(e.Target.MemoryBytes))
	return out
}

// planner fits targets into the environment: the limit band, the
// LimitRange and (afterwards, over all containers) the ResourceQuota.
type planner struct {
	set  *kube.Set
	band Band
	vpa  VPAConfig
	// ratio is each planned container's chosen limit/request ratio per
	// resource, which fitQuotas may lower.
	ratio    map[string]map[corev1.ResourceName]float64 // by containerKey
	memFloor map[string]int64                           // by containerKey
	problems []string
}

// units: CPU in millicores, memory in bytes rounded up to whole Mi.
func toUnits(res corev1.ResourceName, v float64) int64 {
	if res == corev1.ResourceCPU {
		return int64(math.Ceil(v*1000 - 1e-9))
	}
	return int64(math.Ceil(v/(1<<20)-1e-9)) << 20
}

func quantity(res corev1.ResourceName, u int64) resource.Quantity {
	if res == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(u, resource.DecimalSI)
	}
	return *resource.NewQuantity(u, resource.BinarySI)
}

func units(res corev1.ResourceName, q resource.Quantity) int64 {
	if res == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

var cpuMem = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// containerLimits returns the LimitRange's Container min, max and
// maxLimitRequestRatio for res in namespace.
func (p *planner) containerLimits(ns string, res corev1.ResourceName) (lo, hi *resource.Quantity, ratio float64, name string) {
	for _, lr := range p.set.LimitRanges {
		if lr.Namespace != ns {
			continue
		}
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer {
				continue
			}
			name = "LimitRange " + ns + "/" + lr.Name
			if q, ok := it.Min[res]; ok {
				lo = &q
			}
			if q, ok := it.Max[res]; ok {
				hi = &q
			}
			if q, ok := it.MaxLimitRequestRatio[res]; ok {
				ratio = q.AsApproximateFloat64()
			}
		}
	}
	return lo, hi, ratio, name
}

func (p *planner) plan(c *Container, target Amounts, memFloor int64) {
	if p.ratio == nil {
		p.ratio = map[string]map[corev1.ResourceName]float64{}
	}
	rec := Resources{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	ratios := map[corev1.ResourceName]float64{}
	for _, res := range cpuMem {
		v := target.CPUCores
		if res == corev1.ResourceMemory {
			v = target.MemoryBytes
		}
		req := toUnits(res, v)
		lo, hi, lrRatio, lrName := p.containerLimits(c.Namespace, res)
		if lo != nil && req < units(res, *lo) {
			req = units(res, *lo)
			c.Reasons = append(c.Reasons, fmt.Sprintf("%s request raised to the %s min %s", res, lrName, lo.String()))
		}
		// The limit keeps the current ratio, inside the band.
		r := p.band.Min
		why := fmt.Sprintf("no current limit: the band's minimum %g×", p.band.Min)
		curReq, ok1 := c.Current.Requests[res]
		curLim, ok2 := c.Current.Limits[res]
		if ok1 && ok2 && !curReq.IsZero() {
			cur := curLim.AsApproximateFloat64() / curReq.AsApproximateFloat64()
			r = math.Min(math.Max(cur, p.band.Min), p.band.Max)
			why = fmt.Sprintf("the current ratio %.3g×", cur)
			if r != cur {
				why += fmt.Sprintf(" moved into the %g–%g× band", p.band.Min, p.band.Max)
			}
		}
		if lrRatio > 0 && r > lrRatio {
			r = lrRatio
			why += fmt.Sprintf(", capped by the %s maxLimitRequestRatio %g", lrName, lrRatio)
		}
		lim := limitFor(res, req, r)
		if res == corev1.ResourceMemory && lim < memFloor {
			lim = memFloor
			why += fmt.Sprintf(", raised to %s so that Redis's --maxmemory is at most %g%% of it", fmtUnits(res, lim), redisHeadroom*100)
			if float64(lim)/float64(req) > p.band.Max {
				req = int64(math.Ceil(float64(lim)/p.band.Max/(1<<20)-1e-9)) << 20
				c.Reasons = append(c.Reasons, fmt.Sprintf("memory request raised to %s to keep that limit within %g× of it", fmtUnits(res, req), p.band.Max))
			}
		}
		if hi != nil && lim > units(res, *hi) {
			lim = units(res, *hi)
			why += fmt.Sprintf(", capped at the %s max %s", lrName, hi.String())
			if req > lim {
				p.problem(c, fmt.Sprintf("%s container %s needs a %s request of %s, more than the %s max %s: raise the max or split the work", c.Ref(), c.Container, res, fmtUnits(res, req), lrName, hi.String()))
				req = lim
			} else if float64(lim)/float64(req) < p.band.Min-1e-9 {
				p.problem(c, fmt.Sprintf("%s container %s: the %s max %s leaves its %s limit only %.2g× the request %s, under the band's %g×", c.Ref(), c.Container, lrName, hi.String(), res, float64(lim)/float64(req), fmtUnits(res, req), p.band.Min))
			}
		}
		ratios[res] = r
		rec.Requests[res] = quantity(res, req)
		rec.Limits[res] = quantity(res, lim)
		c.Reasons = append(c.Reasons, fmt.Sprintf("%s limit %s = %.3g× request (%s)", res, fmtUnits(res, lim), float64(lim)/float64(req), why))
	}
	c.Recommended = &rec
	p.ratio[containerKey(c)] = ratios
	if p.memFloor == nil {
		p.memFloor = map[string]int64{}
	}
	p.memFloor[containerKey(c)] = memFloor
}

// problem records a constraint the recommendation cannot meet.
func (p *planner) problem(c *Container, msg string) {
	if c != nil {
		c.Reasons = append(c.Reasons, "problem: "+msg)
	}
	p.problems = append(p.problems, msg)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func containerKey(c *Container) string { return c.Ref() + "/" + c.Container }

func limitFor(res corev1.ResourceName, req int64, ratio float64) int64 {
	if res == corev1.ResourceCPU {
		return int64(math.Round(float64(req) * ratio))
	}
	return int64(math.Ceil(float64(req)*ratio/(1<<20)-1e-9)) << 20
}
