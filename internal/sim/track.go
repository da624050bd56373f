package sim

import (
	"fmt"
	"math"
	"strings"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

// track accumulates one deployment's summary and timeline, second by second.
type track struct {
	s        *Sim
	dep      *deployment
	a        *autoscaler // nil without an HPA
	min, max int32

	sum       Summary
	events    []ScaleEvent
	lastDir   int32
	shortfall int64 // current stretch of load above capacity
	podSec    float64
	oracleSec float64
	oracleB   float64 // worker oracle: its own queue, in jobs
	oracleRho float64 // gateway oracle: highest utilization meeting the p95 target
	quotaRun  int64   // current stretch of seconds the quota held pods back

	points    []Point
	metricBuf []float64
	loadSum   float64
	sloMax    float64
	depthMax  float64
}

func newTrack(s *Sim, dep *deployment, a *autoscaler) *track {
	tr := &track{s: s, dep: dep, a: a, min: 1, max: 1}
	if a != nil {
		tr.min, tr.max = a.min, a.max
	}
	// Without an HPA the Deployment's own replicas hold; for our manifests
	// (which leave replicas to the HPA) that is 1.
	if a == nil {
		for _, d := range s.cfg.Set.Deployments {
			if d.Name == dep.name && d.Spec.Replicas != nil {
				tr.min, tr.max = *d.Spec.Replicas, *d.Spec.Replicas
			}
		}
	}
	tr.sum.PeakReplicas = tr.min
	tr.oracleRho = oracleUtilization(&s.p.Gateway, s.gm.mu)
	tr.sum.QuotaFirstHeldAt = -1
	n := int(s.duration/s.sample) + 1
	tr.points = make([]Point, 0, n)
	if a != nil {
		tr.metricBuf = make([]float64, 0, n*len(a.src))
	}
	return tr
}

func (tr *track) oracle(pods float64) float64 {
	return min(max(math.Ceil(pods-1e-9), float64(tr.min)), float64(tr.max))
}

func (tr *track) common(t int64, demand, capacity float64, violated bool) {
	if tr.dep.spec > tr.sum.PeakReplicas {
		tr.sum.PeakReplicas = tr.dep.spec
	}
	if demand > capacity+1e-9 {
		tr.shortfall++
		tr.sum.ShortfallSeconds++
		tr.sum.CatchUpSeconds = max(tr.sum.CatchUpSeconds, tr.shortfall)
	} else {
		tr.shortfall = 0
	}
	if violated {
		tr.sum.SLOSeconds++
	}
	tr.podSec += float64(len(tr.dep.pods))
}

// gateway accounts second t of the gateway.
func (tr *track) gateway(t int64, rps, p95, served, dropped float64) {
	g := &tr.s.p.Gateway
	mu := tr.s.gm.mu
	ready := float64(tr.dep.readyCount(t))
	capacity := ready * mu
	ms := p95 * 1000
	tr.common(t, rps, capacity, ms > g.P95TargetMs)
	tr.oracleSec += tr.oracle(rps / (mu * tr.oracleRho))
	tr.sum.Served += served
	tr.sum.Dropped += dropped
	tr.sum.MaxP95Ms = max(tr.sum.MaxP95Ms, ms)
	tr.observe(t, rps, capacity, ms, 0)
}

// worker accounts second t of the worker.
func (tr *track) worker(t int64, jobRate float64, burst int64, q *jobQueue, done int64) {
	w := &tr.s.p.Worker
	ready := float64(tr.dep.readyCount(t))
	perPod := tr.s.wm.perPod() // jobs/s one worker completes
	capacity := ready * perPod
	depth := float64(q.depth)
	age := q.oldestAge(t)
	tr.common(t, jobRate+depth/w.WaitSLOSeconds, capacity, float64(age) > w.WaitSLOSeconds)

	// oracle: pods started instantly, as many as serve the arrivals plus what
	// clears its own backlog (bursts, and load beyond maxReplicas) within
	// the wait SLO
	tr.oracleB += jobRate + float64(burst)
	pods := tr.oracle(jobRate/perPod + max(0, tr.oracleB-jobRate)/(perPod*w.WaitSLOSeconds))
	tr.oracleB = max(0, tr.oracleB-pods*perPod)
	tr.oracleSec += pods

	tr.sum.Completed += done
	tr.sum.MaxDepth = max(tr.sum.MaxDepth, q.depth)
	tr.sum.MaxAgeSeconds = max(tr.sum.MaxAgeSeconds, age)
	tr.observe(t, jobRate+float64(burst), capacity, float64(age), depth)
}

// observe feeds the timeline; one point per sample interval.
func (tr *track) observe(t int64, load, capacity, slo, depth float64) {
	tr.loadSum += load
	tr.sloMax = max(tr.sloMax, slo)
	tr.depthMax = max(tr.depthMax, depth)
	every := tr.s.sample
	if t%every != every-1 && t != tr.s.duration-1 {
		return
	}
	n := t%every + 1
	pt := Point{
		T:        t - t%every,
		Replicas: tr.dep.spec,
		Ready:    int32(tr.dep.readyCount(t)),
		Desired:  tr.dep.spec,
		Load:     tr.loadSum / float64(n),
		Capacity: capacity,
		SLO:      tr.sloMax,
		Depth:    tr.depthMax,
	}
	if tr.a != nil {
		if tr.a.last.Proposed > 0 {
			pt.Desired = tr.a.last.Proposed
		}
		start := len(tr.metricBuf)
		tr.metricBuf = append(tr.metricBuf, tr.a.values...)
		pt.Metrics = tr.metricBuf[start:len(tr.metricBuf):len(tr.metricBuf)]
	}
	tr.points = append(tr.points, pt)
	tr.loadSum, tr.sloMax, tr.depthMax = 0, 0, 0
}

// held accounts the pods the quota held back at t.
func (tr *track) held(t int64, n int32) {
	if n == 0 {
		tr.quotaRun = 0
		return
	}
	tr.sum.QuotaHeldSeconds++
	if tr.sum.QuotaFirstHeldAt < 0 {
		tr.sum.QuotaFirstHeldAt = t
		tr.sum.QuotaLimit = tr.dep.held
	}
	tr.sum.QuotaHeldPods = max(tr.sum.QuotaHeldPods, n)
	if tr.quotaRun == 0 && len(tr.events) > 0 && tr.events[len(tr.events)-1].Quota == "" {
		tr.events[len(tr.events)-1].Quota = tr.dep.held
	}
	tr.quotaRun++
}

// limitReasons are the Decision reasons that say a limit held the proposal.
var limitReasons = map[string]bool{
	hpa.ReasonScaleUpLimit: true, hpa.ReasonScaleDownLimit: true, hpa.ReasonTooManyReplicas: true,
	hpa.ReasonTooFewReplicas: true, hpa.ReasonScaleUpStabilized: true, hpa.ReasonScaleDownStabilized: true,
}

// scaled records a rescale at t: the metric that drove it (the one with the
// highest proposal) and the limit, if any, that held the proposal.
func (tr *track) scaled(t int64, from int32, d hpa.Decision, a *autoscaler) {
	e := ScaleEvent{T: t, From: from, To: d.Desired, Proposed: d.Proposed, Reason: d.Reason}
	for i := range a.proposals {
		if a.proposals[i].Metric == d.Metric && a.proposals[i].Err == nil {
			e.Metric = fmt.Sprintf("%s %s (target %s)", a.info[i].Key, num(a.values[i]), strings.TrimSpace(a.info[i].Target))
			break
		}
	}
	if limitReasons[d.Reason] {
		e.Limit = d.Reason
		if d.Message != "" {
			e.Limit += ": " + d.Message
		}
	}
	tr.events = append(tr.events, e)
	tr.sum.ScaleEvents++
	dir := int32(1)
	if d.Desired < from {
		dir = -1
	}
	if tr.lastDir != 0 && dir != tr.lastDir {
		tr.sum.DirectionChanges++
	}
	tr.lastDir = dir
}

func (tr *track) result() DeploymentResult {
	r := DeploymentResult{Name: tr.dep.name, MinReplicas: tr.min, MaxReplicas: tr.max, Events: tr.events, Timeline: tr.points}
	if tr.a != nil {
		r.HPA = tr.a.obj.Name
		r.Metrics = tr.a.info
	}
	r.CPURequest, r.CPULimit, r.CPUAvailable = tr.dep.cpuRequest, finite(tr.dep.cpuLimit), tr.dep.cpuAvail
	r.MemoryRequestMi, r.MemoryLimitMi = tr.dep.memRequest, finite(tr.dep.memLimit)
	tr.sum.OOMKills = tr.dep.ooms
	if tr.dep.kind == gatewayKind {
		r.LoadUnit, r.SLOUnit = "req/s", "ms"
		r.SLOTarget = tr.s.p.Gateway.P95TargetMs
		r.SLO = "p95 latency over the target"
		r.CapacityPerPod = tr.s.gm.mu
	} else {
		r.LoadUnit, r.SLOUnit = "jobs/s", "s"
		r.SLOTarget = tr.s.p.Worker.WaitSLOSeconds
		r.SLO = "oldest queued job older than the target"
		r.CapacityPerPod = tr.s.wm.perPod()
	}
	tr.sum.PodHours = tr.podSec / hour
	tr.sum.OraclePodHours = tr.oracleSec / hour
	r.Summary = tr.sum
	return r
}

// finite turns "no limit" (+Inf) into 0 for JSON.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return 0
	}
	return v
}
