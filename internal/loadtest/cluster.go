package loadtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// ClusterSample is what the cluster showed in one second.
type ClusterSample struct {
	HPAs []HPASample `json:"hpas"`
	// External are the External metrics the HPAs scale on, read from
	// external.metrics.k8s.io (queue depth and age): fresher than the HPA's
	// last sync.
	External []ExternalValue `json:"external,omitempty"`
	// Error is why the sample is incomplete, when it is.
	Error string `json:"error,omitempty"`
}

// HPASample is one HPA and its target.
type HPASample struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Min    int32  `json:"min"`
	Max    int32  `json:"max"`
	// Current and Desired are the HPA's status; Ready the target's ready pods.
	Current int32         `json:"current"`
	Desired int32         `json:"desired"`
	Ready   int32         `json:"ready"`
	Metrics []MetricValue `json:"metrics"`
}

// MetricValue is one metric of an HPA: its status.currentMetrics value
// (Known false while the HPA shows <unknown>) against its target.
type MetricValue struct {
	Key     string  `json:"key"`
	Current float64 `json:"current"`
	Known   bool    `json:"known"`
	Target  float64 `json:"target"`
	// Unit is "%" for utilization, else "".
	Unit string `json:"unit,omitempty"`
}

// ExternalValue is one External metric's value (the sum over the series
// its selector matches).
type ExternalValue struct {
	Metric   string `json:"metric"`
	Selector string `json:"selector,omitempty"`
	// Value is null when the metric is unknown: the read failed or
	// matched no series, which the HPA treats as a failed read.
	Value  *float64 `json:"value"`
	Series int      `json:"series"`
	Error  string   `json:"error,omitempty"`
}

// Watcher samples the HPAs of a namespace, their targets and External
// metrics.
type Watcher struct {
	Kube      kubernetes.Interface
	External  external_metrics.ExternalMetricsClient // nil: no External metrics read
	Namespace string

	last []autoscalingv2.HorizontalPodAutoscaler
}

// Sample reads the cluster once. A failed read of one part is recorded in
// the sample, not returned, so one slow second does not end a run.
func (w *Watcher) Sample(ctx context.Context) *ClusterSample {
	s := &ClusterSample{}
	hl, err := w.Kube.AutoscalingV2().HorizontalPodAutoscalers(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		s.Error = fmt.Sprintf("list HPAs in %s: %v", w.Namespace, err)
		return s
	}
	sort.Slice(hl.Items, func(i, j int) bool { return hl.Items[i].Name < hl.Items[j].Name })
	w.last = hl.Items
	dl, err := w.Kube.AppsV1().Deployments(w.Namespace).List(ctx, metav1.ListOptions{})
	ready := map[string]int32{}
	if err != nil {
		s.Error = fmt.Sprintf("list Deployments in %s: %v", w.Namespace, err)
	} else {
		for _, d := range dl.Items {
			ready[d.Name] = d.Status.ReadyReplicas
		}
	}
	for i := range hl.Items {
		h := &hl.Items[i]
		hs := HPASample{Name: h.Name, Target: h.Spec.ScaleTargetRef.Name, Min: hpa.MinReplicas(h), Max: h.Spec.MaxReplicas,
			Current: h.Status.CurrentReplicas, Desired: h.Status.DesiredReplicas, Ready: ready[h.Spec.ScaleTargetRef.Name]}
		for k, m := range h.Spec.Metrics {
			mv := MetricValue{Key: kube.MetricKey(m)}
			mv.Target, mv.Unit = targetValue(m)
			if k < len(h.Status.CurrentMetrics) {
				mv.Current, mv.Known = currentValue(h.Status.CurrentMetrics[k])
			}
			hs.Metrics = append(hs.Metrics, mv)
		}
		s.HPAs = append(s.HPAs, hs)
	}
	if w.External != nil {
		s.External = w.external(ctx, hl.Items)
	}
	return s
}

// external reads every External metric of the HPAs once.
func (w *Watcher) external(ctx context.Context, hpas []autoscalingv2.HorizontalPodAutoscaler) []ExternalValue {
	var out []ExternalValue
	seen := map[string]bool{}
	for _, h := range hpas {
		for _, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil {
				continue
			}
			sel := labels.Everything()
			if m.External.Metric.Selector != nil {
				s, err := metav1.LabelSelectorAsSelector(m.External.Metric.Selector)
				if err != nil {
					out = append(out, ExternalValue{Metric: m.External.Metric.Name, Error: err.Error()})
					continue
				}
				sel = s
			}
			key := m.External.Metric.Name + "{" + sel.String() + "}"
			if seen[key] {
				continue
			}
			seen[key] = true
			ev := ExternalValue{Metric: m.External.Metric.Name, Selector: sel.String()}
			sum, err := cluster.ReadExternalSum(w.External, w.Namespace, m.External.Metric.Name, sel)
			ev.Series = sum.Series
			if err != nil {
				ev.Error = err.Error()
			} else {
				v := sum.Value.AsApproximateFloat64()
				ev.Value = &v
			}
			out = append(out, ev)
		}
	}
	return out
}

func targetValue(m autoscalingv2.MetricSpec) (float64, string) {
	t := kube.MetricSpecTarget(m)
	switch {
	case t == nil:
		return 0, ""
	case t.AverageUtilization != nil:
		return float64(*t.AverageUtilization), "%"
	case t.AverageValue != nil:
		return t.AverageValue.AsApproximateFloat64(), ""
	case t.Value != nil:
		return t.Value.AsApproximateFloat64(), ""
	}
	return 0, ""
}

func currentValue(m autoscalingv2.MetricStatus) (float64, bool) {
	v := kube.MetricCurrent(m)
	switch {
	case v == nil:
		return 0, false
	case v.AverageUtilization != nil:
		return float64(*v.AverageUtilization), true
	case v.AverageValue != nil:
		return v.AverageValue.AsApproximateFloat64(), true
	case v.Value != nil:
		return v.Value.AsApproximateFloat64(), true
	}
	return 0, false
}

// syncSlack is time for the HPA controller's sync (15 s) and the
// Deployment to act, added once to a cool-down.
const syncSlack = 30 * time.Second

// Cooldown is how long scale-down from peak replicas takes at most under
// h's behavior: the stabilization window (the controller's 300 s default
// when unset), then one policy period per step down to minReplicas, as
// the upstream controller limits it. ok is false when scale-down is
// disabled.
func Cooldown(h *autoscalingv2.HorizontalPodAutoscaler, peak int32) (d time.Duration, ok bool) {
	var rules *autoscalingv2.HPAScalingRules
	if h.Spec.Behavior != nil {
		rules = h.Spec.Behavior.ScaleDown
	}
	r := hpa.GenerateScaleDownRules(rules)
	window := int32(300)
	if r.StabilizationWindowSeconds != nil {
		window = *r.StabilizationWindowSeconds
	}
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return 0, false
	}
	lo := hpa.MinReplicas(h)
	secs := int64(window)
	for n := peak; n > lo; {
		minChange := r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
		next, period := int32(-1), int32(0)
		for _, p := range r.Policies {
			l := max(hpa.ScaleDownPolicyLimit(p, n), lo)
			// Max (the default) takes the policy allowing the biggest
			// change, the lowest count; Min the smallest change.
			if next < 0 || (!minChange && l < next) || (minChange && l > next) {
				next, period = l, p.PeriodSeconds
			}
		}
		if next < 0 || next >= n { // no policy, or one that removes no pod here: one per period
			next = n - 1
		}
		secs += int64(period)
		n = next
	}
	return time.Duration(secs)*time.Second + syncSlack, true
}

// CooldownFor is the longest Cooldown of the HPAs last sampled, each from
// its peak replicas in peaks (name → replicas; the current count when
// absent). It names the HPA it comes from.
func (w *Watcher) CooldownFor(peaks map[string]int32) (time.Duration, string) {
	var d time.Duration
	from := ""
	for i := range w.last {
		h := &w.last[i]
		p, ok := peaks[h.Name]
		if !ok {
			p = h.Status.CurrentReplicas
		}
		c, ok := Cooldown(h, p)
		if !ok {
			continue
		}
		if c > d {
			d, from = c, fmt.Sprintf("%s: scale-down window and periods from %d to %d replicas", h.Name, p, hpa.MinReplicas(h))
		}
	}
	return d, from
}
