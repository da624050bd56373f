//go:build e2e

package nodeagent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The pod worker's probe loops: startup, readiness and liveness, each on
// its own schedule (how one probe is run: probe.go).

// probe runs the container's startup, readiness and liveness probes until
// the process exits.
func (w *podWorker) probe(ctx context.Context, c *ctr, p *process) {
	spec := c.spec
	startedCh := make(chan struct{})
	if spec.StartupProbe == nil {
		close(startedCh)
	} else {
		go func() {
			st := newProbeState(spec.StartupProbe, false)
			w.probeLoop(ctx, spec.StartupProbe, &spec, p, func(r probeResult) bool {
				st.observe(r.ok)
				if st.result {
					w.mu.Lock()
					c.started = true
					w.mu.Unlock()
					w.markDirty()
					close(startedCh)
					return false
				}
				if st.failures >= max(spec.StartupProbe.FailureThreshold, 1) {
					w.logf("container %s failed its startup probe: %s; killing it", spec.Name, r.msg)
					go p.Stop(w.probeGrace(spec.StartupProbe))
					return false
				}
				return true
			})
		}()
	}
	if spec.ReadinessProbe == nil {
		go func() {
			select {
			case <-startedCh:
				w.mu.Lock()
				if c.proc == p && p.Running() {
					c.ready = true
				}
				w.mu.Unlock()
				w.markDirty()
			case <-ctx.Done():
			}
		}()
	} else {
		go func() {
			select {
			case <-startedCh:
			case <-ctx.Done():
				return
			}
			st := newProbeState(spec.ReadinessProbe, false)
			w.probeLoop(ctx, spec.ReadinessProbe, &spec, p, func(r probeResult) bool {
				if st.observe(r.ok) {
					w.mu.Lock()
					c.ready = st.result && c.proc == p
					w.mu.Unlock()
					if !st.result {
						w.logf("container %s not ready: %s", spec.Name, r.msg)
					}
					w.markDirty()
				}
				return true
			})
		}()
	}
	if spec.LivenessProbe != nil {
		go func() {
			select {
			case <-startedCh:
			case <-ctx.Done():
				return
			}
			st := newProbeState(spec.LivenessProbe, true)
			w.probeLoop(ctx, spec.LivenessProbe, &spec, p, func(r probeResult) bool {
				if st.observe(r.ok) && !st.result {
					w.logf("container %s failed its liveness probe: %s; restarting it", spec.Name, r.msg)
					go p.Stop(w.probeGrace(spec.LivenessProbe))
					return false
				}
				return true
			})
		}()
	}
}

func (w *podWorker) probeGrace(pr *corev1.Probe) time.Duration {
	if pr.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// probeLoop waits the initial delay (from the process's start), then
// probes every period until fn returns false or ctx ends.
func (w *podWorker) probeLoop(ctx context.Context, pr *corev1.Probe, c *corev1.Container, p *process, fn func(probeResult) bool) {
	delay := time.Until(p.StartedAt().Add(time.Duration(pr.InitialDelaySeconds) * time.Second))
	if delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	t := time.NewTicker(probePeriod(pr))
	defer t.Stop()
	for {
		r := w.a.prober.run(ctx, pr, c, w.ip)
		if ctx.Err() != nil {
			return
		}
		if !fn(r) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
