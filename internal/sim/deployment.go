package sim

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

// Names of the Deployments the simulator has a model for (k8s/performance/base).
const (
	GatewayName = "voiceassist-server"
	WorkerName  = "voiceassist-worker"
)

type kind uint8

const (
	gatewayKind kind = iota
	workerKind
)

// deployment is one Deployment with its ReplicaSet's pods.
type deployment struct {
	name      string
	namespace string
	kind      kind
	spec      int32 // spec.replicas as the HPA sets it
	live      int32 // pods not terminating (status.replicas), kept as pods change
	pods      []pod
	seq       int

	containers []hpa.Container // requests of the pod template, shared by all pods
	cpuRequest float64         // millicores per pod
	memRequest float64         // MiB per pod
	cpuLimit   float64         // millicores per pod (+Inf: none)
	memLimit   float64         // MiB per pod (+Inf: none)
	cpuAvail   float64         // millicores a pod gets: request + run.cpuBurst of the room to the limit
	probe      int64           // readiness probe period, seconds
	grace      int64           // terminationGracePeriodSeconds

	pending, startup float64 // mean Pending and start-up seconds
	starts           rng     // this deployment's start-up times
	jitter           float64

	cost      podCost // what one pod counts against the ResourceQuotas
	quota     *quota
	held      string // the quota limit that refused the last pod creation, "" when none
	ooms      int64  // containers restarted for exceeding their memory limit
	restarted int64  // last OOM restart, for the HPA's readiness times

	// metrics-server's latest scrape and the adapter's answer, as the HPA reads them
	cpuMetrics, memMetrics, rpsMetrics hpa.PodMetrics
	// msGone: a pod was removed since metrics-server's last scrape, whose
	// samples must leave cpuMetrics and memMetrics
	msGone  bool
	hpaPods []hpa.Pod
	// averages of the same samples, for display: millicores, MiB, req/s
	cpuAvg, memAvg, rpsAvg float64
}

func newDeployment(d *appsv1.Deployment, k kind, pending, startup float64, burst float64) (*deployment, error) {
	core := corev1.Pod{}
	core.Name = d.Name
	core.Spec = d.Spec.Template.Spec
	hp := hpa.PodFromCore(&core)
	dep := &deployment{
		name:       d.Name,
		namespace:  d.Namespace,
		kind:       k,
		containers: hp.Containers,
		probe:      0,
		grace:      30,
		pending:    pending,
		startup:    startup,
		cpuMetrics: hpa.PodMetrics{},
		memMetrics: hpa.PodMetrics{},
		rpsMetrics: hpa.PodMetrics{},
	}
	// Requests for display and utilization; a missing request stays 0 and
	// the HPA's own calculator reports it when a metric needs it.
	if v, err := hpa.PodRequest(&hp, "", corev1.ResourceCPU); err == nil {
		dep.cpuRequest = float64(v)
	}
	if v, err := hpa.PodRequest(&hp, "", corev1.ResourceMemory); err == nil {
		dep.memRequest = float64(v) / 1000 / mebibyte
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if l, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			dep.cpuLimit += float64(l.MilliValue())
		} else {
			dep.cpuLimit = math.Inf(1)
		}
		if l, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			dep.memLimit += float64(l.Value()) / mebibyte
		} else {
			dep.memLimit = math.Inf(1)
		}
		if c.ReadinessProbe != nil {
			period := int64(c.ReadinessProbe.PeriodSeconds)
			if period <= 0 {
				period = 10 // the API default
			}
			dep.probe = max(dep.probe, period)
		}
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("Deployment %s/%s: no containers", d.Namespace, d.Name)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		dep.grace = *g
	}
	if dep.cpuRequest <= 0 {
		return nil, fmt.Errorf("Deployment %s/%s: no CPU request: the simulator derives a pod's capacity from its CPU (spec.template.spec.containers[*].resources.requests.cpu)", d.Namespace, d.Name)
	}
	// A pod gets its request, plus a share of the room up to its limit
	// (without a limit: up to 4x the request, the spec's upper ratio).
	limit := dep.cpuLimit
	if math.IsInf(limit, 1) {
		limit = 4 * dep.cpuRequest
	}
	dep.cpuAvail = dep.cpuRequest + burst*max(0, limit-dep.cpuRequest)
	dep.cost = costOf(&d.Spec.Template.Spec)
	return dep, nil
}

const mebibyte = 1024 * 1024

// create adds one pod at t (the ReplicaSet controller reacting to a scale-up).
func (d *deployment) create(t int64) {
	d.seq++
	running := t + int64(math.Round(d.starts.jitter(d.pending, d.jitter)))
	d.pods = append(d.pods, pod{name: podName(d.name, d.seq), created: t, runningAt: running, readyAt: d.readyAfter(running), goneAt: -1})
	d.live++
}

// readyAfter is when a container started at running passes its first
// readiness probe: probes run every period from container start.
func (d *deployment) readyAfter(running int64) int64 {
	ready := running + int64(math.Ceil(d.starts.jitter(d.startup, d.jitter)))
	if d.probe > 0 {
		ready = running + (ready-running+d.probe-1)/d.probe*d.probe
	}
	return max(ready, running)
}

// reconcile is the ReplicaSet controller at t: it creates the pods
// spec.replicas asks for, as far as the ResourceQuotas admit them. It
// returns the number of pods the quota held back.
func (d *deployment) reconcile(t int64) (held int32) {
	d.held = ""
	for n := d.active(); n < d.spec; n++ {
		if d.quota != nil {
			if why := d.quota.admit(d.cost); why != "" {
				d.held = why
				return d.spec - n
			}
		}
		d.create(t)
	}
	return 0
}

// oomKill restarts p's container at t: its working set exceeded the memory
// limit. The pod stays Running but is not ready until its readiness probe
// passes again; a worker's jobs go back to the queue.
func (d *deployment) oomKill(p *pod, t int64, q *jobQueue, baseMem float64) {
	d.ooms++
	p.readyAt = d.readyAfter(t + 1)
	p.notReadySince = t
	p.mem = baseMem
	for k := range p.slots {
		if p.slots[k].busy {
			q.pushFront(p.slots[k].arrival)
			p.slots[k].busy = false
		}
	}
}

// active counts pods that are not terminating (status.replicas).
func (d *deployment) active() int32 { return d.live }

// readyCount counts pods that receive work.
func (d *deployment) readyCount(t int64) int {
	n := 0
	for i := range d.pods {
		if d.pods[i].ready(t) {
			n++
		}
	}
	return n
}

// scale sets spec.replicas and lets the ReplicaSet delete pods; creation is
// reconcile's (every second, within the quota).
func (d *deployment) scale(t int64, replicas int32, drain float64) {
	d.spec = replicas
	for n := d.active(); n > replicas; n-- {
		p := d.victim(t)
		p.deleted = true
		d.live--
		switch {
		case !p.running(t) || t < p.readyAt:
			p.goneAt = t + 1
		case d.kind == gatewayKind:
			p.goneAt = t + min(int64(math.Ceil(drain)), d.grace)
		default:
			p.goneAt = t + d.grace // sooner if its jobs finish (worker.step)
		}
	}
}

// victim picks the pod to delete like the ReplicaSet controller's
// ActivePods ordering: Pending before Running, not ready before ready, the
// most recently ready first, then the newest.
func (d *deployment) victim(t int64) *pod {
	var best *pod
	rank := func(p *pod) (int, int64, int64) {
		switch {
		case !p.running(t):
			return 0, 0, -p.created
		case t < p.readyAt:
			return 1, 0, -p.created
		default:
			return 2, -p.readyAt, -p.created
		}
	}
	for i := range d.pods {
		p := &d.pods[i]
		if p.deleted {
			continue
		}
		if best == nil {
			best = p
			continue
		}
		a1, a2, a3 := rank(p)
		b1, b2, b3 := rank(best)
		if a1 < b1 || (a1 == b1 && (a2 < b2 || (a2 == b2 && a3 < b3))) {
			best = p
		}
	}
	return best
}

// reap removes pods whose process has exited, keeping creation order.
// Worker pods hand their unfinished jobs back to the queue.
func (d *deployment) reap(t int64, q *jobQueue) {
	if int(d.live) == len(d.pods) {
		return // no pod is terminating: nothing to look at this second
	}
	j := 0
	for i := range d.pods {
		p := &d.pods[i]
		if p.deleted && t >= p.goneAt {
			if d.quota != nil {
				d.quota.release(d.cost)
			}
			for k := range p.slots {
				if p.slots[k].busy {
					q.pushFront(p.slots[k].arrival)
				}
			}
			d.msGone = true
			continue
		}
		if i != j {
			d.pods[j] = *p
		}
		j++
	}
	d.pods = d.pods[:j]
}

// scrapeMetricsServer is one metrics-server scrape at t: every running pod
// scraped twice or more reports its CPU rate since the previous scrape and
// its memory now. Values are milli-units as the resource metrics API gives.
//
// A pod scraped once is scraped at every later scrape until it is removed
// (it keeps running), so the samples of a scrape are a superset of the
// last one's unless a pod was removed: only then are the maps cleared, and
// otherwise every sample is overwritten (clearing them at every scrape was
// about 3 % of a run).
func (d *deployment) scrapeMetricsServer(t int64) {
	if d.msGone {
		clear(d.cpuMetrics)
		clear(d.memMetrics)
		d.msGone = false
	}
	var cpuSum, memSum float64
	for i := range d.pods {
		p := &d.pods[i]
		if !p.running(t) {
			continue
		}
		if p.msScrapes > 0 && t > p.msPrevT {
			w := t - p.msPrevT
			ts := at(t)
			d.cpuMetrics[p.name] = hpa.Sample{Value: int64(math.Round((p.cpuCum - p.msPrevCum) / float64(w))), Timestamp: ts, Window: secs(w)}
			d.memMetrics[p.name] = hpa.Sample{Value: int64(math.Round(p.mem*mebibyte)) * 1000, Timestamp: ts, Window: secs(w)}
			cpuSum += (p.cpuCum - p.msPrevCum) / float64(w)
			memSum += p.mem
		}
		p.msScrapes++
		p.msPrevT = t
		p.msPrevCum = p.cpuCum
	}
	d.cpuAvg, d.memAvg = avg(cpuSum, len(d.cpuMetrics)), avg(memSum, len(d.memMetrics))
}

func avg(sum float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// scrapePrometheus records every running pod's request counter.
func (d *deployment) scrapePrometheus(t int64) {
	for i := range d.pods {
		if d.pods[i].running(t) {
			d.pods[i].pushProm(t)
		}
	}
}

// queryAdapter is Prometheus Adapter answering the custom metrics API for
// http_requests_per_second at t: sum(rate(http_requests_total[window])) per pod.
func (d *deployment) queryAdapter(t, window int64) {
	clear(d.rpsMetrics)
	sum := 0.0
	for i := range d.pods {
		p := &d.pods[i]
		if v, last, ok := p.rate(t, window); ok {
			d.rpsMetrics[p.name] = hpa.Sample{Value: int64(math.Round(v * 1000)), Timestamp: at(last), Window: secs(window)}
			sum += v
		}
	}
	d.rpsAvg = avg(sum, len(d.rpsMetrics))
}

// listPods is the pod lister's answer for the HPA at t.
func (d *deployment) listPods(t int64) []hpa.Pod {
	d.hpaPods = d.hpaPods[:0]
	for i := range d.pods {
		d.hpaPods = append(d.hpaPods, d.pods[i].hpaPod(t, d.containers))
	}
	return d.hpaPods
}
