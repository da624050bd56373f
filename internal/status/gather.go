package status

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/discovery"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

// Sources are the clients a snapshot is read with.
type Sources struct {
	// Cluster gives the core clients (Kube, Dynamic) and the revisions.
	Cluster *cluster.Client
	// Metrics reads metrics.k8s.io (kubectl top's API).
	Metrics metricsclient.Interface
	// External reads external.metrics.k8s.io (what the worker HPA reads).
	External external_metrics.ExternalMetricsClient
}

// NewSources builds the metrics clients for the connection c.
func NewSources(c *cluster.Client) (Sources, error) {
	m, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		return Sources{}, fmt.Errorf("metrics.k8s.io client: %w", err)
	}
	e, err := external_metrics.NewForConfig(c.Config)
	if err != nil {
		return Sources{}, fmt.Errorf("external.metrics.k8s.io client: %w", err)
	}
	return Sources{Cluster: c, Metrics: m, External: e}, nil
}

// Options say what to gather.
type Options struct {
	Namespace string
	// Env and Expected: the environment given with --env and the HPAs, VPAs
	// and PDBs it renders ("Kind/name"), reported as Missing when absent.
	Env      string
	Expected []string
	// Events is how many of the newest Warning events to keep.
	Events int
	// Now is the time of the snapshot (time.Now when zero).
	Now time.Time
}

// The API groups a snapshot reads beyond the core ones.
var (
	vpaGV      = schema.GroupVersion{Group: "autoscaling.k8s.io", Version: "v1"}
	vpaGVR     = vpaGV.WithResource("verticalpodautoscalers")
	metricsGV  = schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"}
	externalGV = schema.GroupVersion{Group: "external.metrics.k8s.io", Version: "v1beta1"}
)

// Gather reads one snapshot. It fails only when a core API (HPAs, pods,
// PDBs, events) fails; an optional API that is missing or unavailable
// (the VPA CRD, metrics.k8s.io, external.metrics.k8s.io) is reported in its
// section instead.
func Gather(ctx context.Context, src Sources, o Options) (*Snapshot, error) {
	c := src.Cluster
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	s := &Snapshot{Time: now.UTC(), Namespace: o.Namespace, Env: o.Env}
	ns := o.Namespace
	kc := c.Kube

	revs, err := c.Revisions(ctx)
	// A user who may not read Secrets still gets the rest.
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, err
	}
	if len(revs) > 0 {
		r := revs[len(revs)-1]
		s.Revision = &Revision{Number: r.Number, Env: r.Env, Time: r.Time, Version: r.Version}
	}

	hpas, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing HorizontalPodAutoscalers in %s: %w", ns, c.Explain(err))
	}
	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Pods in %s: %w", ns, c.Explain(err))
	}
	pdbs, err := kc.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets in %s: %w", ns, c.Explain(err))
	}
	events, err := kc.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=" + corev1.EventTypeWarning})
	if err != nil {
		return nil, fmt.Errorf("listing Events in %s: %w", ns, c.Explain(err))
	}

	targets := newTargets(ctx, c, ns)
	s.HPAs = HPASection{ResourceVersion: hpas.ResourceVersion, Items: []HPA{}}
	for i := range hpas.Items {
		s.HPAs.Items = append(s.HPAs.Items, hpaStatus(&hpas.Items[i], targets.get(hpas.Items[i].Spec.ScaleTargetRef), pods.Items, now))
	}
	sort.Slice(s.HPAs.Items, func(i, j int) bool { return s.HPAs.Items[i].Name < s.HPAs.Items[j].Name })
	s.VPAs = gatherVPAs(ctx, c, ns, targets)
	s.PDBs = pdbStatus(pdbs)
	s.Pods = podStatus(pods)
	if why := apiUnavailable(ctx, c, metricsGV); why != "" {
		s.Pods.MetricsUnavailable = why
	} else if pm, err := src.Metrics.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{}); err != nil {
		s.Pods.MetricsUnavailable = "metrics.k8s.io: " + c.Explain(err).Error()
	} else {
		addUsage(&s.Pods, pm.Items)
	}
	s.Queue = gatherExternal(ctx, src, ns, hpas.Items)
	s.Events = warningEvents(events, o.Events)
	s.Missing = missing(o.Expected, s)
	return s, nil
}

// apiUnavailable says why the API group version gv cannot be read, or "".
// For an aggregated API (metrics-server, a metrics adapter) it quotes the
// APIService's Available condition, which names the cause (no endpoints,
// the service refusing connections, …).
func apiUnavailable(ctx context.Context, c *cluster.Client, gv schema.GroupVersion) string {
	_, err := discovery.ToDiscoveryInterfaceWithContext(c.Kube.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, gv.String())
	if err == nil {
		return ""
	}
	why := fmt.Sprintf("%s is not served", gv.Group)
	if !apierrors.IsNotFound(err) {
		why = fmt.Sprintf("%s is not available: %v", gv.Group, err)
	}
	if c.Dynamic == nil {
		return why
	}
	name := gv.Version + "." + gv.Group
	a, gerr := cluster.GetAPIService(ctx, c.Dynamic, name)
	switch {
	case apierrors.IsNotFound(gerr):
		return why + " (no APIService " + name + " is registered)"
	case gerr != nil:
		return why
	}
	if cond := cluster.AvailableCondition(a); cond != nil && cond.Status != apiregistrationv1.ConditionTrue {
		return fmt.Sprintf("%s is not available (APIService %s Available=%s %s: %s)", gv.Group, name, cond.Status, cond.Reason, cond.Message)
	}
	return why
}

// workload is the part of an HPA's or VPA's target the snapshot reads.
type workload struct {
	found    bool
	why      string // why not found
	replicas int32  // spec.replicas
	selector labels.Selector
	template *corev1.PodTemplateSpec
}

// targets reads each target workload once.
type targets struct {
	ctx   context.Context
	c     *cluster.Client
	ns    string
	cache map[string]workload
}

func newTargets(ctx context.Context, c *cluster.Client, ns string) *targets {
	return &targets{ctx: ctx, c: c, ns: ns, cache: map[string]workload{}}
}

func (t *targets) get(ref autoscalingv2.CrossVersionObjectReference) workload {
	key := ref.Kind + "/" + ref.Name
	if w, ok := t.cache[key]; ok {
		return w
	}
	w := t.read(ref.Kind, ref.Name)
	t.cache[key] = w
	return w
}

func (t *targets) read(kind, name string) workload {
	var (
		replicas *int32
		sel      *metav1.LabelSelector
		tmpl     *corev1.PodTemplateSpec
		err      error
	)
	apps := t.c.Kube.AppsV1()
	switch kind {
	case "Deployment":
		d, e := apps.Deployments(t.ns).Get(t.ctx, name, metav1.GetOptions{})
		if err = e; e == nil {
			replicas, sel, tmpl = d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template
		}
	case "StatefulSet":
		d, e := apps.StatefulSets(t.ns).Get(t.ctx, name, metav1.GetOptions{})
		if err = e; e == nil {
			replicas, sel, tmpl = d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template
		}
	case "ReplicaSet":
		d, e := apps.ReplicaSets(t.ns).Get(t.ctx, name, metav1.GetOptions{})
		if err = e; e == nil {
			replicas, sel, tmpl = d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template
		}
	default:
		return workload{why: fmt.Sprintf("target kind %s is not read by vactl status", kind)}
	}
	if err != nil {
		return workload{why: fmt.Sprintf("%s/%s: %v", kind, name, t.c.Explain(err))}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return workload{why: fmt.Sprintf("%s/%s: spec.selector: %v", kind, name, err)}
	}
	w := workload{found: true, replicas: 1, selector: s, template: tmpl}
	if replicas != nil {
		w.replicas = *replicas
	}
	return w
}

func conditionTime(t metav1.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func gatherVPAs(ctx context.Context, c *cluster.Client, ns string, t *targets) VPASection {
	sec := VPASection{Items: []VPA{}}
	if _, err := discovery.ToDiscoveryInterfaceWithContext(c.Kube.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, vpaGV.String()); err != nil {
		if apierrors.IsNotFound(err) {
			sec.Unavailable = "the VerticalPodAutoscaler CRD (autoscaling.k8s.io/v1) is not installed: no VPA recommendations (optional; install the VPA to get them)"
		} else {
			sec.Unavailable = "autoscaling.k8s.io/v1: " + c.Explain(err).Error()
		}
		return sec
	}
	l, err := c.Dynamic.Resource(vpaGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		sec.Unavailable = "listing VerticalPodAutoscalers: " + c.Explain(err).Error()
		return sec
	}
	sec.ResourceVersion = l.GetResourceVersion()
	for i := range l.Items {
		var v vpav1.VerticalPodAutoscaler
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, &v); err != nil {
			sec.Items = append(sec.Items, VPA{Name: l.Items[i].GetName(), NoRecommendation: "cannot decode: " + err.Error()})
			continue
		}
		sec.Items = append(sec.Items, vpaStatus(&v, t))
	}
	sort.Slice(sec.Items, func(i, j int) bool { return sec.Items[i].Name < sec.Items[j].Name })
	return sec
}

func vpaStatus(v *vpav1.VerticalPodAutoscaler, t *targets) VPA {
	out := VPA{Name: v.Name, UpdateMode: "Auto", Containers: []VPAContainer{}}
	if v.Spec.UpdatePolicy != nil && v.Spec.UpdatePolicy.UpdateMode != nil {
		out.UpdateMode = string(*v.Spec.UpdatePolicy.UpdateMode)
	}
	var w workload
	if r := v.Spec.TargetRef; r != nil {
		out.Target = r.Kind + "/" + r.Name
		w = t.get(autoscalingv2.CrossVersionObjectReference{Kind: r.Kind, Name: r.Name, APIVersion: r.APIVersion})
	}
	requests := map[string]corev1.ResourceList{}
	var order []string
	if w.found {
		for _, ct := range w.template.Spec.Containers {
			requests[ct.Name] = ct.Resources.Requests
			order = append(order, ct.Name)
		}
	}
	seen := map[string]bool{}
	if v.Status.Recommendation != nil {
		for _, r := range v.Status.Recommendation.ContainerRecommendations {
			out.Containers = append(out.Containers, VPAContainer{Name: r.ContainerName, LowerBound: r.LowerBound, Target: r.Target, UpperBound: r.UpperBound, Requests: requests[r.ContainerName]})
			seen[r.ContainerName] = true
		}
	}
	for _, n := range order {
		if !seen[n] {
			out.Containers = append(out.Containers, VPAContainer{Name: n, Requests: requests[n]})
		}
	}
	if v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
		out.NoRecommendation = "no recommendation yet: the VPA recommender writes one once it runs and has seen the pods' usage (kubectl -n kube-system get pods -l app=vpa-recommender)"
		if !w.found && w.why != "" {
			out.NoRecommendation += "; target: " + w.why
		}
	}
	for _, cd := range v.Status.Conditions {
		out.Conditions = append(out.Conditions, Condition{Type: string(cd.Type), Status: cd.Status, Reason: cd.Reason, Message: cd.Message, LastTransitionTime: conditionTime(cd.LastTransitionTime)})
	}
	return out
}

func pdbStatus(l *policyv1.PodDisruptionBudgetList) PDBSection {
	sec := PDBSection{ResourceVersion: l.ResourceVersion, Items: []PDB{}}
	for _, p := range l.Items {
		sec.Items = append(sec.Items, PDB{Name: p.Name, MinAvailable: p.Spec.MinAvailable, MaxUnavailable: p.Spec.MaxUnavailable,
			CurrentHealthy: p.Status.CurrentHealthy, DesiredHealthy: p.Status.DesiredHealthy,
			DisruptionsAllowed: p.Status.DisruptionsAllowed, ExpectedPods: p.Status.ExpectedPods})
	}
	sort.Slice(sec.Items, func(i, j int) bool { return sec.Items[i].Name < sec.Items[j].Name })
	return sec
}

// addUsage sets each pod's CPU and memory use from metrics.k8s.io (the sum
// over its containers, as kubectl top pods shows it).
func addUsage(sec *PodSection, metrics []metricsv1beta1.PodMetrics) {
	byName := map[string]*metricsv1beta1.PodMetrics{}
	for i := range metrics {
		byName[metrics[i].Name] = &metrics[i]
	}
	for i := range sec.Items {
		m, ok := byName[sec.Items[i].Name]
		if !ok {
			continue
		}
		var cpu, mem resource.Quantity
		for _, c := range m.Containers {
			cpu.Add(c.Usage[corev1.ResourceCPU])
			mem.Add(c.Usage[corev1.ResourceMemory])
		}
		sec.Items[i].CPU.Usage = &cpu
		sec.Items[i].Memory.Usage = &mem
	}
}

func podStatus(l *corev1.PodList) PodSection {
	sec := PodSection{ResourceVersion: l.ResourceVersion, Items: []Pod{}}
	items := append([]corev1.Pod(nil), l.Items...)
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	for i := range items {
		p := &items[i]
		out := Pod{Name: p.Name, Phase: p.Status.Phase, Containers: len(p.Spec.Containers)}
		if p.Status.StartTime != nil {
			out.StartTime = conditionTime(*p.Status.StartTime)
		}
		for _, cd := range p.Status.Conditions {
			if cd.Type == corev1.PodReady {
				out.Ready = cd.Status == corev1.ConditionTrue
			}
		}
		var last *corev1.ContainerStateTerminated
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready {
				out.ReadyContainers++
			}
			out.Restarts += cs.RestartCount
			if t := cs.LastTerminationState.Terminated; t != nil && (last == nil || t.FinishedAt.After(last.FinishedAt.Time)) {
				last = t
				out.LastTermination = &Termination{Container: cs.Name, Reason: t.Reason, ExitCode: t.ExitCode, FinishedAt: conditionTime(t.FinishedAt)}
			}
		}
		out.CPU = sumResources(p, corev1.ResourceCPU)
		out.Memory = sumResources(p, corev1.ResourceMemory)
		sec.Items = append(sec.Items, out)
	}
	return sec
}

// sumResources sums the containers' request and limit of one resource; a
// container without one makes the sum nil (as kubectl describe node shows
// no limit for such a pod).
func sumResources(p *corev1.Pod, name corev1.ResourceName) Usage {
	var u Usage
	req, lim := resource.Quantity{}, resource.Quantity{}
	hasReq, hasLim := len(p.Spec.Containers) > 0, len(p.Spec.Containers) > 0
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[name]; ok {
			req.Add(q)
		} else {
			hasReq = false
		}
		if q, ok := c.Resources.Limits[name]; ok {
			lim.Add(q)
		} else {
			hasLim = false
		}
	}
	if hasReq {
		u.Request = &req
	}
	if hasLim {
		u.Limit = &lim
	}
	return u
}

func gatherExternal(ctx context.Context, src Sources, ns string, hpas []autoscalingv2.HorizontalPodAutoscaler) QueueSection {
	sec := QueueSection{Metrics: []ExternalMetric{}}
	type key struct{ name, sel string }
	seen := map[key]bool{}
	var wanted []ExternalMetric
	var sels []labels.Selector
	for i := range hpas {
		for _, m := range hpas[i].Spec.Metrics {
			if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil {
				continue
			}
			sel := labels.Everything()
			if m.External.Metric.Selector != nil {
				s, err := metav1.LabelSelectorAsSelector(m.External.Metric.Selector)
				if err != nil {
					wanted = append(wanted, ExternalMetric{Name: m.External.Metric.Name, HPA: hpas[i].Name, Error: "selector: " + err.Error()})
					sels = append(sels, nil)
					continue
				}
				sel = s
			}
			k := key{m.External.Metric.Name, sel.String()}
			if seen[k] {
				continue
			}
			seen[k] = true
			wanted = append(wanted, ExternalMetric{Name: k.name, Selector: k.sel, HPA: hpas[i].Name})
			sels = append(sels, sel)
		}
	}
	if len(wanted) == 0 {
		return sec
	}
	if why := apiUnavailable(ctx, src.Cluster, externalGV); why != "" {
		sec.Unavailable = why
	}
	for i, m := range wanted {
		if m.Error == "" && sec.Unavailable == "" {
			readExternal(src, ns, &m, sels[i])
		}
		sec.Metrics = append(sec.Metrics, m)
	}
	return sec
}

// readExternal reads one External metric as the HPA controller does: the
// values of every series for the selector, summed.
func readExternal(src Sources, ns string, m *ExternalMetric, sel labels.Selector) {
	r, err := cluster.ReadExternalSum(src.External, ns, m.Name, sel)
	m.Series = r.Series
	switch {
	case errors.Is(err, cluster.ErrNoExternalSeries):
		m.Error = "no series for this selector: the HPA fails this metric (FailedGetExternalMetric) and does not scale down"
		return
	case err != nil:
		m.Error = src.Cluster.Explain(err).Error()
		return
	}
	m.Value = &r.Value
	m.Timestamp = conditionTime(metav1.NewTime(r.Newest))
}

func lastSeen(e *corev1.Event) time.Time {
	t := e.CreationTimestamp.Time
	for _, c := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time} {
		if c.After(t) {
			t = c
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// warningEvents keeps the newest n events, oldest first (as kubectl get
// events --sort-by=.lastTimestamp prints them).
func warningEvents(l *corev1.EventList, n int) EventSection {
	sec := EventSection{ResourceVersion: l.ResourceVersion, Items: []Event{}}
	items := make([]Event, 0, len(l.Items))
	for i := range l.Items {
		e := &l.Items[i]
		if e.Type != corev1.EventTypeWarning {
			continue
		}
		count := e.Count
		if e.Series != nil && e.Series.Count > count {
			count = e.Series.Count
		}
		if count == 0 {
			count = 1
		}
		items = append(items, Event{LastSeen: lastSeen(e).UTC(), Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
			Reason: e.Reason, Message: strings.TrimSpace(e.Message), Count: count, Name: e.Name})
	}
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].LastSeen.Equal(items[j].LastSeen) {
			return items[i].LastSeen.Before(items[j].LastSeen)
		}
		return items[i].Name < items[j].Name
	})
	if n >= 0 && len(items) > n {
		items = items[len(items)-n:]
	}
	sec.Items = append(sec.Items, items...)
	return sec
}

// missing lists the expected objects the snapshot does not have.
func missing(expected []string, s *Snapshot) []string {
	have := map[string]bool{}
	for _, h := range s.HPAs.Items {
		have["HorizontalPodAutoscaler/"+h.Name] = true
	}
	for _, v := range s.VPAs.Items {
		have["VerticalPodAutoscaler/"+v.Name] = true
	}
	for _, p := range s.PDBs.Items {
		have["PodDisruptionBudget/"+p.Name] = true
	}
	var out []string
	for _, e := range expected {
		if have[e] {
			continue
		}
		if strings.HasPrefix(e, "VerticalPodAutoscaler/") && s.VPAs.Unavailable != "" {
			out = append(out, e+" (no VPA API)")
			continue
		}
		out = append(out, e)
	}
	return out
}
