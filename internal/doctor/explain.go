package doctor

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Explanation is the replay of one HPA's next decision.
type Explanation struct {
	HPA    string `json:"hpa"`
	Target string `json:"target"`
	// SpecReplicas is the scale's spec.replicas (what the HPA starts from),
	// StatusReplicas its status.replicas; StatusDesired the HPA's own
	// status.desiredReplicas from its last sync.
	SpecReplicas   int32 `json:"specReplicas"`
	StatusReplicas int32 `json:"statusReplicas"`
	StatusDesired  int32 `json:"statusDesiredReplicas"`
	MinReplicas    int32 `json:"minReplicas"`
	MaxReplicas    int32 `json:"maxReplicas"`
	// Pods counts the target's pods by the calculator's groups.
	Pods    string              `json:"pods"`
	Metrics []MetricExplanation `json:"metrics"`
	// Proposed is the largest metric proposal (-1: the metrics allow no
	// decision), ProposedBy the metric that gave it.
	Proposed   int32  `json:"proposed"`
	ProposedBy string `json:"proposedBy,omitempty"`
	// Stabilized is the recommendation after the stabilization window.
	Stabilized int32 `json:"stabilized"`
	// Desired is what the replay sets at the next sync; Rescale whether that
	// changes the scale.
	Desired int32 `json:"desired"`
	Rescale bool  `json:"rescale"`
	// Reason is the decision's ScalingLimited / AbleToScale / ScalingActive
	// reason as the controller would write it.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Limit is the rate limit of the direction the recommendation moves.
	Limit *RateLimit `json:"limit,omitempty"`
	// Window is the stabilization window when it holds the count back.
	Window *WindowHold `json:"window,omitempty"`
	// NextStep is when the limit or window that holds the count back next
	// allows a step.
	NextStep *time.Time `json:"nextStep,omitempty"`
	// Summary says it in a sentence.
	Summary string `json:"summary"`
	// Disagreement is set when the replay differs from the controller's status.
	Disagreement string `json:"disagreement,omitempty"`
	// History are the rescales doctor reconstructed from the Events (and
	// lastScaleTime), oldest first: the replay's memory of scale events.
	History     []Rescale `json:"history,omitempty"`
	Assumptions []string  `json:"assumptions,omitempty"`
	// Err is set when no replay was possible (no scale to read).
	Err string `json:"error,omitempty"`
}

// MetricExplanation is one metric of the replay.
type MetricExplanation struct {
	Metric string `json:"metric"`
	API    string `json:"api"`
	Target string `json:"target"`
	// Status is the value in the HPA's status.currentMetrics (its last sync).
	Status string `json:"status"`
	// Now is the value the metrics API returns now.
	Now      string `json:"now"`
	Query    string `json:"query,omitempty"`
	Proposed int32  `json:"proposed"`
	Error    string `json:"error,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// RateLimit is one direction's policies at this sync.
type RateLimit struct {
	Direction    string        `json:"direction"`
	SelectPolicy string        `json:"selectPolicy"`
	Policies     []PolicyLimit `json:"policies"`
	// Allowed is the count the policies allow (selectPolicy applied).
	Allowed int32 `json:"allowed"`
	// Binding is true when the policies hold the recommendation back.
	Binding bool `json:"binding"`
}

// PolicyLimit is what one policy allows.
type PolicyLimit struct {
	// Policy is "+2 pods per 30 s", "+100 % per 30 s", "-1 pod per 300 s".
	Policy string `json:"policy"`
	// PeriodStart is the replica count at the start of its period (current
	// minus the changes within it).
	PeriodStart int32 `json:"periodStart"`
	Allows      int32 `json:"allows"`
	// Decides is true for the policy selectPolicy picks.
	Decides bool `json:"decides"`
}

// WindowHold is a stabilization window that changes the recommendation.
type WindowHold struct {
	Direction string `json:"direction"`
	Seconds   int32  `json:"seconds"`
	// From is the recommendation before the window, To after it.
	From int32 `json:"from"`
	To   int32 `json:"to"`
}

// Rescale is one scale change of the target.
type Rescale struct {
	Time time.Time `json:"time"`
	// From is -1 when unknown.
	From int32 `json:"from"`
	To   int32 `json:"to"`
	// Count is how many times the Event was seen (Events of the same size
	// are aggregated into one).
	Count int32 `json:"count,omitempty"`
}

// newController is the controller the replay runs: kube-controller-manager's
// defaults (15 s sync, tolerance 0.1, 5 min downscale window, 5 min CPU
// initialization period, 30 s readiness delay).
var newController = hpa.DefaultController

// Explain replays h's next decision on the snapshot's inputs.
func Explain(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) Explanation {
	e := Explanation{
		HPA:           h.Name,
		Target:        h.Spec.ScaleTargetRef.Kind + " " + s.Namespace + "/" + h.Spec.ScaleTargetRef.Name,
		StatusDesired: h.Status.DesiredReplicas,
		MinReplicas:   hpa.MinReplicas(h),
		MaxReplicas:   h.Spec.MaxReplicas,
	}
	tgt := s.Targets[h.Name]
	if tgt == nil || tgt.Err != nil {
		e.Err = "the scale of the target could not be read"
		if tgt != nil {
			e.Err += ": " + tgt.Err.Error()
		}
		e.Summary = "no replay: " + e.Err + " (FailedGetScale: the HPA does nothing until it can)"
		return e
	}
	e.SpecReplicas, e.StatusReplicas = tgt.SpecReplicas, tgt.StatusReplicas
	now := s.Now
	c := newController()
	pods := s.targetPods(tgt)
	reads := s.Reads[h.Name]
	props := make([]hpa.MetricProposal, len(h.Spec.Metrics))
	for i := range h.Spec.Metrics {
		m := &h.Spec.Metrics[i]
		var rd MetricRead
		if i < len(reads) {
			rd = reads[i]
		}
		obs := observation(m, &rd, pods)
		props[i] = c.ComputeReplicasForMetric(h, m, tgt.SpecReplicas, tgt.StatusReplicas, &obs, now)
		me := MetricExplanation{
			Metric: kube.MetricKey(*m), API: APIFor(*m), Target: kube.MetricTarget(*m),
			Status: statusValue(h, i), Now: nowValue(c, h, m, tgt, &obs, now), Query: rd.Query,
			Proposed: props[i].Replicas, Reason: props[i].Reason,
		}
		if props[i].Err != nil {
			me.Error, me.Proposed = props[i].Err.Error(), -1
		}
		e.Metrics = append(e.Metrics, me)
	}
	e.Pods = podGroups(c, pods, s.Reads[h.Name], h, now)

	e.History = s.rescales(h, tgt)
	st, assumptions := replayState(c, h, e.History, now)
	e.Assumptions = assumptions
	d := c.Decide(h, tgt.SpecReplicas, props, now, st)
	e.Proposed, e.ProposedBy, e.Stabilized = d.Proposed, d.Metric, d.Stabilized
	e.Desired, e.Rescale, e.Reason, e.Message = d.Desired, d.Rescale, d.Reason, d.Message
	describeLimits(c, h, &e, e.History, now)
	e.Summary = summarize(&e)
	e.Disagreement = disagreement(h, &e)
	return e
}

// targetPods are the pods the scale's selector matches (the HPA's pod lister).
func (s *Snapshot) targetPods(t *Target) []hpa.Pod {
	sel, err := labels.Parse(t.Selector)
	if err != nil || t.Selector == "" {
		return nil
	}
	var out []hpa.Pod
	for i := range s.Pods {
		if sel.Matches(labels.Set(s.Pods[i].Labels)) {
			out = append(out, hpa.PodFromCore(&s.Pods[i]))
		}
	}
	return out
}

func (s *Snapshot) targetCorePods(t *Target) []*corev1.Pod {
	sel, err := labels.Parse(t.Selector)
	if err != nil || t.Selector == "" {
		return nil
	}
	var out []*corev1.Pod
	for i := range s.Pods {
		if sel.Matches(labels.Set(s.Pods[i].Labels)) {
			out = append(out, &s.Pods[i])
		}
	}
	return out
}

// observation turns a read into the port's input, with the metrics
// clients' rules: an empty list of a Resource or Pods metric is an error
// of the client; an empty External list is left to the port, which fails
// the metric as upstream does.
func observation(m *autoscalingv2.MetricSpec, rd *MetricRead, pods []hpa.Pod) hpa.Observation {
	obs := hpa.Observation{Pods: pods, Err: rd.Err, ObjectValue: rd.ObjectValue, ExternalValues: rd.ExternalValues}
	if len(rd.PodValues) > 0 {
		obs.PodMetrics = hpa.PodMetrics{}
		for name, v := range rd.PodValues {
			obs.PodMetrics[name] = hpa.Sample{Value: v.Value, Timestamp: v.Timestamp, Window: v.Window}
		}
	}
	if obs.Err == nil && len(rd.PodValues) == 0 {
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
			obs.Err = hpa.ErrNoResourceMetrics
		case autoscalingv2.PodsMetricSourceType:
			obs.Err = hpa.ErrNoCustomMetrics
		}
	}
	return obs
}

// podGroups counts the target's pods as the calculator groups them for
// the first Resource metric (cpu's initialization rules included).
func podGroups(c *hpa.Controller, pods []hpa.Pod, reads []MetricRead, h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) string {
	res, metrics := corev1.ResourceName(""), hpa.PodMetrics{}
	for i, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && i < len(reads) {
			res = m.Resource.Name
			for n, v := range reads[i].PodValues {
				metrics[n] = hpa.Sample{Value: v.Value, Timestamp: v.Timestamp, Window: v.Window}
			}
			break
		}
	}
	classes, _ := c.GroupPods(pods, metrics, res, now)
	n := map[hpa.PodClass]int{}
	for _, cl := range classes {
		n[cl]++
	}
	out := fmt.Sprintf("%d pods: %d ready", len(pods), n[hpa.PodReady])
	for _, cl := range []hpa.PodClass{hpa.PodUnready, hpa.PodMissing, hpa.PodIgnored} {
		if n[cl] > 0 {
			out += fmt.Sprintf(", %d %s", n[cl], cl)
		}
	}
	if res != "" {
		out += " (grouped for " + string(res) + ")"
	}
	return out
}

// nowValue is the metric's current value as the calculator computes it.
func nowValue(c *hpa.Controller, h *autoscalingv2.HorizontalPodAutoscaler, m *autoscalingv2.MetricSpec, t *Target, obs *hpa.Observation, now time.Time) string {
	if obs.Err != nil {
		return "<unknown>"
	}
	tol := c.Tolerances(h)
	switch {
	case m.Resource != nil || m.ContainerResource != nil:
		name, container, target := corev1.ResourceName(""), "", autoscalingv2.MetricTarget{}
		if m.Resource != nil {
			name, target = m.Resource.Name, m.Resource.Target
		} else {
			name, container, target = m.ContainerResource.Name, m.ContainerResource.Container, m.ContainerResource.Target
		}
		if target.AverageUtilization != nil {
			_, u, raw, err := c.ResourceReplicas(now, t.SpecReplicas, *target.AverageUtilization, name, container, tol, obs.Pods, obs.PodMetrics)
			if err != nil {
				return "<unknown>"
			}
			return fmt.Sprintf("%d%% (%s per pod)", u, milli(raw, name))
		}
		if target.AverageValue != nil {
			_, u, err := c.RawResourceReplicas(now, t.SpecReplicas, target.AverageValue.MilliValue(), name, tol, obs.Pods, obs.PodMetrics)
			if err != nil {
				return "<unknown>"
			}
			return milli(u, name) + " per pod"
		}
	case m.Pods != nil && m.Pods.Target.AverageValue != nil:
		_, u, err := c.PodsMetricReplicas(now, t.SpecReplicas, m.Pods.Target.AverageValue.MilliValue(), tol, obs.Pods, obs.PodMetrics)
		if err != nil {
			return "<unknown>"
		}
		return milli(u, "") + " per pod"
	case m.Object != nil:
		return milli(obs.ObjectValue, "")
	case m.External != nil:
		if len(obs.ExternalValues) == 0 {
			return "<unknown> (no series)"
		}
		var sum int64
		for _, v := range obs.ExternalValues {
			sum += v
		}
		return milli(sum, "")
	}
	return "?"
}

func milli(v int64, r corev1.ResourceName) string {
	switch r {
	case corev1.ResourceCPU:
		return resource.NewMilliQuantity(v, resource.DecimalSI).String()
	case corev1.ResourceMemory:
		return fmt.Sprintf("%.0fMi", float64(v)/1000/(1<<20))
	}
	return resource.NewMilliQuantity(v, resource.DecimalSI).String()
}

// statusValue is status.currentMetrics[i] as `kubectl get hpa` shows it.
func statusValue(h *autoscalingv2.HorizontalPodAutoscaler, i int) string {
	if i >= len(h.Status.CurrentMetrics) {
		return "<unknown>"
	}
	v := kube.MetricCurrent(h.Status.CurrentMetrics[i])
	switch {
	case v == nil:
		return "<unknown>"
	case v.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *v.AverageUtilization)
	case v.AverageValue != nil:
		return v.AverageValue.String() + " per pod"
	case v.Value != nil:
		return v.Value.String()
	}
	return "<unknown>"
}

var (
	newSizeRE = regexp.MustCompile(`^New size: (\d+); reason: `)
	scaledRE  = regexp.MustCompile(`^Scaled (?:up|down) replica set \S+ from (\d+) to (\d+)`)
)

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// rescales reconstructs the target's scale changes: the HPA's
// SuccessfulRescale Events give the new size and time, the Deployment's
// ScalingReplicaSet Events ("from A to B") the size before the first one,
// and status.lastScaleTime the time of the last one.
func (s *Snapshot) rescales(h *autoscalingv2.HorizontalPodAutoscaler, t *Target) []Rescale {
	var out []Rescale
	type rs struct {
		at       time.Time
		from, to int32
	}
	var scaled []rs
	for i := range s.Events {
		e := &s.Events[i]
		switch {
		case e.InvolvedObject.Kind == "HorizontalPodAutoscaler" && e.InvolvedObject.Name == h.Name && e.Reason == "SuccessfulRescale":
			if m := newSizeRE.FindStringSubmatch(e.Message); m != nil {
				n, _ := strconv.Atoi(m[1])
				out = append(out, Rescale{Time: eventTime(e), From: -1, To: int32(n), Count: max(e.Count, 1)})
			}
		case e.InvolvedObject.Kind == t.Kind && e.InvolvedObject.Name == t.Name && e.Reason == "ScalingReplicaSet":
			if m := scaledRE.FindStringSubmatch(e.Message); m != nil {
				a, _ := strconv.Atoi(m[1])
				b, _ := strconv.Atoi(m[2])
				scaled = append(scaled, rs{eventTime(e), int32(a), int32(b)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	for i := range out {
		if i > 0 {
			out[i].From = out[i-1].To
			continue
		}
		// The Deployment controller scales the ReplicaSet right after the
		// HPA's update: the closest "from A to B" with B the new size.
		best := time.Duration(math.MaxInt64)
		for _, r := range scaled {
			d := r.at.Sub(out[i].Time)
			if d < 0 {
				d = -d
			}
			if r.to == out[i].To && d < 30*time.Second && d < best {
				best, out[i].From = d, r.from
			}
		}
	}
	if h.Status.LastScaleTime != nil {
		last := h.Status.LastScaleTime.Time
		if len(out) == 0 || last.Sub(out[len(out)-1].Time) > time.Second {
			from := int32(-1)
			if len(out) > 0 {
				from = out[len(out)-1].To
			}
			out = append(out, Rescale{Time: last, From: from, To: t.SpecReplicas})
		}
	}
	return out
}

// replayState rebuilds the controller's memory for the replay. Its scale
// events come from the reconstructed rescales; its recommendations are not
// readable, so each rescale stands for a recommendation of its new size
// (a lower bound of what the controller saw) inside the scale-down window.
func replayState(c *hpa.Controller, h *autoscalingv2.HorizontalPodAutoscaler, history []Rescale, now time.Time) (*hpa.State, []string) {
	st := &hpa.State{Recommendations: []hpa.Recommendation{}}
	up, down := c.BehaviorRules(h.Spec.Behavior)
	var notes []string
	unknown := 0
	for _, r := range history {
		if h.Spec.Behavior != nil && r.From >= 0 && r.To != r.From {
			if r.To > r.From {
				st.ScaleUpEvents = append(st.ScaleUpEvents, hpa.ScaleEvent{Time: r.Time, Change: r.To - r.From})
			} else {
				st.ScaleDownEvents = append(st.ScaleDownEvents, hpa.ScaleEvent{Time: r.Time, Change: r.From - r.To})
			}
		}
		if r.From < 0 && now.Sub(r.Time) < time.Duration(max(longestPeriod(up), longestPeriod(down)))*time.Second {
			unknown++
		}
		// Recommendations older than the scale-up window only (a lower
		// bound would wrongly cap a scale-up inside it).
		if now.Sub(r.Time) > time.Duration(up.WindowSeconds)*time.Second && now.Sub(r.Time) <= time.Duration(down.WindowSeconds)*time.Second {
			st.Recommendations = append(st.Recommendations, hpa.Recommendation{Time: r.Time, Replicas: r.To})
		}
	}
	notes = append(notes, "the controller's recommendations are not readable: each rescale within the scale-down window counts as a recommendation of its new size")
	if unknown > 0 {
		notes = append(notes, fmt.Sprintf("%d recent rescale(s) of unknown size change (their Events are gone): the policy limits may be lower than replayed", unknown))
	}
	return st, notes
}
