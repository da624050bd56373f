package sim

import (
	"fmt"
	"math"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// replicasAt is the replica count right after every event at or before t.
func replicasAt(d *DeploymentResult, t int64) int32 {
	r := d.MinReplicas
	if len(d.Events) > 0 {
		r = d.Events[0].From
	}
	for _, e := range d.Events {
		if e.T > t {
			break
		}
		r = e.To
	}
	return r
}

// rateLimit states a policy as the test reads it: within any period
// (t-period, t], the count may grow or shrink at most as limit allows,
// given the count at the start of the period.
type rateLimit struct {
	name   string
	period int64
	up     bool
	limit  func(start int32) int32 // the highest (up) or lowest (down) count allowed
}

var (
	gatewayUp   = rateLimit{"gateway +2 pods per 30 s", 30, true, func(s int32) int32 { return s + 2 }}
	gatewayDown = rateLimit{"gateway -1 pod per 300 s", 300, false, func(s int32) int32 { return s - 1 }}
	workerUp    = rateLimit{"worker +50 % per 60 s", 60, true, func(s int32) int32 { return int32(math.Ceil(float64(s) * 1.5)) }}
	workerDown  = rateLimit{"worker -10 % per 600 s", 600, false, func(s int32) int32 { return int32(float64(s) * 0.9) }}
)

// violations checks every scale event of d against the limits; windows end
// at the event, so this covers every window.
func violations(d *DeploymentResult, limits ...rateLimit) []string {
	var out []string
	for _, e := range d.Events {
		for _, l := range limits {
			if l.up != (e.To > e.From) {
				continue
			}
			start := replicasAt(d, e.T-l.period)
			bound := l.limit(start)
			if (l.up && e.To > bound) || (!l.up && e.To < bound) {
				out = append(out, fmt.Sprintf("%s: at t=%d %d -> %d, but %d at t=%d allows %d", l.name, e.T, e.From, e.To, start, e.T-l.period, bound))
			}
		}
	}
	return out
}

// boundViolations checks every sample and event against [min, max].
func boundViolations(d *DeploymentResult, min, max int32) []string {
	var out []string
	for _, p := range d.Timeline {
		if p.Replicas < min || p.Replicas > max {
			out = append(out, fmt.Sprintf("%s: %d replicas at t=%d outside %d-%d", d.Name, p.Replicas, p.T, min, max))
			break
		}
	}
	for _, e := range d.Events {
		if e.To < min || e.To > max {
			out = append(out, fmt.Sprintf("%s: scaled to %d at t=%d outside %d-%d", d.Name, e.To, e.T, min, max))
		}
	}
	return out
}

// withHPA returns a copy of set whose HPA name is changed by edit.
func withHPA(set *kube.Set, name string, edit func(h *autoscalingv2.HorizontalPodAutoscaler)) *kube.Set {
	c := *set
	c.HPAs = nil
	for _, h := range set.HPAs {
		h = h.DeepCopy()
		if h.Name == name {
			edit(h)
		}
		c.HPAs = append(c.HPAs, h)
	}
	return &c
}
