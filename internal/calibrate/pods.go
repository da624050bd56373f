package calibrate

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodTimes are one pod's start-up phases in seconds (-1: not reached).
// Condition times have whole-second resolution.
type PodTimes struct {
	Pod string `json:"pod"`
	// Scheduled: creation → PodScheduled; Initialized: → Initialized;
	// Started: creation → the last container's startedAt; ContainersReady
	// and Ready: creation → those conditions.
	Scheduled       float64 `json:"scheduled"`
	Initialized     float64 `json:"initialized"`
	Started         float64 `json:"started"`
	ContainersReady float64 `json:"containersReady"`
	Ready           float64 `json:"ready"`
	// Restarted: a container restarted, so its Ready time is not its first start-up.
	Restarted bool `json:"restarted,omitempty"`
}

// StartupResult is one Deployment's pods.
type StartupResult struct {
	Deployment string     `json:"deployment"`
	Pods       []PodTimes `json:"pods"`
	// Pending is the median of creation → container start (scheduling,
	// image pull, init: the model's pendingSeconds); Startup the median of
	// container start → Ready (the model's startupSeconds), over the pods
	// that became Ready without a restart. Max are the slowest.
	PendingSeconds    float64 `json:"pendingSeconds"`
	StartupSeconds    float64 `json:"startupSeconds"`
	MaxPendingSeconds float64 `json:"maxPendingSeconds"`
	MaxStartupSeconds float64 `json:"maxStartupSeconds"`
	Measured          int     `json:"measured"`
}

// MeasureStartup reads the condition timestamps of every pod of a
// Deployment in namespace ns.
func MeasureStartup(ctx context.Context, kc kubernetes.Interface, ns, deployment string) (*StartupResult, error) {
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, deployment, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: spec.selector: %w", ns, deployment, err)
	}
	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("pods of deployment %s/%s: %w", ns, deployment, err)
	}
	res := &StartupResult{Deployment: deployment}
	var pend, start []float64
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		t := podTimes(p)
		res.Pods = append(res.Pods, t)
		if t.Ready >= 0 && t.Started >= 0 && !t.Restarted {
			pend = append(pend, t.Started)
			start = append(start, math.Max(0, t.Ready-t.Started))
		}
	}
	sort.Slice(res.Pods, func(i, j int) bool { return res.Pods[i].Pod < res.Pods[j].Pod })
	if len(pend) == 0 {
		return nil, fmt.Errorf("deployment %s/%s: no pod became Ready without a restart (%d pods)", ns, deployment, len(res.Pods))
	}
	res.Measured = len(pend)
	res.PendingSeconds, res.MaxPendingSeconds = median(pend), maxOf(pend)
	res.StartupSeconds, res.MaxStartupSeconds = median(start), maxOf(start)
	return res, nil
}

func podTimes(p *corev1.Pod) PodTimes {
	created := p.CreationTimestamp.Time
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return -1
		}
		return t.Sub(created).Seconds()
	}
	cond := func(c corev1.PodConditionType) float64 {
		for _, x := range p.Status.Conditions {
			if x.Type == c && x.Status == corev1.ConditionTrue {
				return since(x.LastTransitionTime.Time)
			}
		}
		return -1
	}
	t := PodTimes{Pod: p.Name, Scheduled: cond(corev1.PodScheduled), Initialized: cond(corev1.PodInitialized),
		ContainersReady: cond(corev1.ContainersReady), Ready: cond(corev1.PodReady), Started: -1}
	var last time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount > 0 {
			t.Restarted = true
		}
		if r := cs.State.Running; r != nil && r.StartedAt.After(last) {
			last = r.StartedAt.Time
		}
	}
	t.Started = since(last)
	return t
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}
