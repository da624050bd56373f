package sim

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

const (
	// maxConcurrency bounds worker.concurrency (slots are a fixed array).
	maxConcurrency = 16
	// promRing holds a pod's Prometheus samples; the rate window must fit.
	promRing = 64
)

// pod is one simulated pod. Times are simulation seconds.
type pod struct {
	name      string
	created   int64 // the ReplicaSet created it; status.startTime
	runningAt int64 // containers started: Pending before, Running after
	readyAt   int64 // first readiness probe that passes
	deleted   bool  // deletionTimestamp set: out of the Service, ignored by the HPA
	goneAt    int64 // when a deleted pod's process exits
	// notReadySince is the last time the pod went not ready after being
	// ready (an OOM restart); 0 when it never did.
	notReadySince int64

	cpu    float64 // millicores used in the last second
	cpuCum float64 // millicore-seconds since start (cAdvisor's counter)
	mem    float64 // working set, MiB

	// metrics-server's view: the previous scrape of the cumulative CPU.
	msScrapes int
	msPrevT   int64
	msPrevCum float64

	// Prometheus' view of http_requests_total.
	reqTotal float64
	prom     [promRing]promSample
	promN    int
	promHead int

	// worker job slots
	slots [maxConcurrency]slot

	// the HPA's view of the pod as last built, and what it was built from
	hp    hpa.Pod
	hpKey hpaKey
}

// hpaKey is what the HPA's view of a pod depends on besides its constant
// name and creation: its state at the sync and the fields that move it.
type hpaKey struct {
	state                  int8 // 0: not built; 1 pending, 2 ready, 3 running and not ready
	deleted                bool
	readyAt, notReadySince int64
}

type promSample struct {
	t int64
	v float64
}

type slot struct {
	busy      bool
	remaining float64 // seconds of service left
	arrival   int64   // the job's arrival, kept to requeue it
}

func (p *pod) running(t int64) bool { return t >= p.runningAt }
func (p *pod) ready(t int64) bool   { return !p.deleted && t >= p.readyAt }

// pushProm records one scrape of the request counter.
func (p *pod) pushProm(t int64) {
	i := (p.promHead + p.promN) % promRing
	if p.promN == promRing {
		p.promHead = (p.promHead + 1) % promRing
	} else {
		p.promN++
	}
	p.prom[i] = promSample{t, p.reqTotal}
}

// rate is Prometheus' rate() over (now-window, now] without extrapolation:
// the slope between the first and last sample in the window. ok is false
// with fewer than two samples.
func (p *pod) rate(now, window int64) (v float64, last int64, ok bool) {
	var a, b *promSample
	for k := p.promN - 1; k >= 0; k-- {
		s := &p.prom[(p.promHead+k)%promRing]
		if s.t > now {
			continue
		}
		if s.t <= now-window {
			break
		}
		if b == nil {
			b = s
		}
		a = s
	}
	if a == nil || a == b {
		return 0, 0, false
	}
	return (b.v - a.v) / float64(b.t-a.t), b.t, true
}

// podName builds a pod's name from its deployment and sequence number.
func podName(deployment string, seq int) string {
	return deployment + "-" + strconv.Itoa(seq)
}

// epoch is simulation second 0 as a wall-clock time for internal/hpa.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(t int64) time.Time { return epoch.Add(time.Duration(t) * time.Second) }

// hpaPod is what the pod lister would give the HPA for p at t. The view
// changes only when the pod starts running, becomes ready, is deleted or
// restarts, so it is kept and built again only then (building every pod's
// at every sync was about 6 % of a run).
func (p *pod) hpaPod(t int64, containers []hpa.Container) hpa.Pod {
	key := hpaKey{state: 3, deleted: p.deleted, readyAt: p.readyAt, notReadySince: p.notReadySince}
	switch {
	case t < p.runningAt:
		key.state = 1
	case t >= p.readyAt:
		key.state = 2
	}
	if key != p.hpKey {
		p.hp, p.hpKey = p.buildHPAPod(t, containers), key
	}
	return p.hp
}

func (p *pod) buildHPAPod(t int64, containers []hpa.Container) hpa.Pod {
	hp := hpa.Pod{
		Name:                p.name,
		Phase:               corev1.PodRunning,
		Ready:               corev1.ConditionFalse,
		ReadyTransitionTime: at(p.created),
		StartTime:           at(p.created),
		Deleted:             p.deleted,
		Containers:          containers,
	}
	switch {
	case t < p.runningAt:
		hp.Phase = corev1.PodPending
	case t >= p.readyAt:
		hp.Ready = corev1.ConditionTrue
		hp.ReadyTransitionTime = at(p.readyAt)
	case p.notReadySince != 0:
		hp.ReadyTransitionTime = at(p.notReadySince)
	}
	return hp
}

func secs(s int64) time.Duration { return time.Duration(s) * time.Second }
