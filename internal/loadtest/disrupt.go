package loadtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"
)

// Disruption modes: both go through the Eviction API, so a
// PodDisruptionBudget can refuse them, as it would a node drain.
const (
	// DisruptEvictOne evicts one ready pod with its grace period.
	DisruptEvictOne = "evict-one"
	// DisruptKillPod evicts one ready pod with a grace period of 0: the
	// closest the API offers to a node dying under it.
	DisruptKillPod = "kill-pod"
)

// Disruptor evicts pods of one Deployment during the load, at most Max
// times, one every Every (the first Every after the load starts).
type Disruptor struct {
	Kube       kubernetes.Interface
	Namespace  string
	Deployment string
	Mode       string
	Every      time.Duration
	Max        int
}

// MinDisruptEvery bounds the disruption rate.
const MinDisruptEvery = 10 * time.Second

// Validate checks the mode and the bounds.
func (d *Disruptor) Validate() error {
	switch {
	case d.Mode != DisruptEvictOne && d.Mode != DisruptKillPod:
		return fmt.Errorf("--disrupt %q: want %s or %s", d.Mode, DisruptEvictOne, DisruptKillPod)
	case d.Every < MinDisruptEvery:
		return fmt.Errorf("--disrupt-every %s: want at least %s (a bounded rate)", d.Every, MinDisruptEvery)
	case d.Max < 1:
		return fmt.Errorf("--disrupt-max %d: want at least 1", d.Max)
	}
	return nil
}

// Disruption is one attempt.
type Disruption struct {
	T    int64  `json:"t"`
	Mode string `json:"mode"`
	Pod  string `json:"pod,omitempty"`
	// Result is "evicted", "refused" (a PodDisruptionBudget said no: 429)
	// or "error".
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// run disrupts until ctx ends; every attempt goes to out.
func (d *Disruptor) run(ctx context.Context, start time.Time, out func(Disruption)) {
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for n := 0; n < d.Max; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r := d.once(ctx)
			r.T = int64(now.Sub(start) / time.Second)
			out(r)
		}
	}
}

// once evicts the newest ready pod of the Deployment (the oldest pods are
// the ones a scale-down keeps, so this one's loss is felt).
func (d *Disruptor) once(ctx context.Context) Disruption {
	r := Disruption{Mode: d.Mode, Result: "error"}
	dep, err := d.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, d.Deployment, metav1.GetOptions{})
	if err != nil {
		r.Message = fmt.Sprintf("deployment %s/%s: %v", d.Namespace, d.Deployment, err)
		return r
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		r.Message = fmt.Sprintf("deployment %s/%s: spec.selector: %v", d.Namespace, d.Deployment, err)
		return r
	}
	pods, err := d.Kube.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		r.Message = err.Error()
		return r
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podutils.IsPodReady(&p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		r.Message = fmt.Sprintf("deployment %s/%s has no ready pod", d.Namespace, d.Deployment)
		return r
	}
	sort.Slice(ready, func(i, j int) bool { return ready[j].CreationTimestamp.Before(&ready[i].CreationTimestamp) })
	p := ready[0]
	r.Pod = p.Name
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	if d.Mode == DisruptKillPod {
		ev.DeleteOptions = &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
	}
	err = d.Kube.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
	switch {
	case err == nil:
		r.Result = "evicted"
	case apierrors.IsTooManyRequests(err):
		r.Result, r.Message = "refused", err.Error()
	default:
		r.Message = err.Error()
	}
	return r
}
