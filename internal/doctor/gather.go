package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/voiceassist/autoscaling/internal/cluster"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"
)

// Clients are what Gather reads the cluster with.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Config  *rest.Config
	Mapper  meta.RESTMapper
}

var (
	vpaGVR = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}
)

// metricsTimeout bounds each metrics API request (the clients of
// k8s.io/metrics take no context).
const metricsTimeout = 20 * time.Second

// Gather reads the snapshot of namespace. Only failures to read the HPAs,
// pods and workloads are errors; an unavailable metrics API is data.
func Gather(ctx context.Context, c Clients, namespace string) (*Snapshot, error) {
	s := &Snapshot{Now: time.Now(), Namespace: namespace, APIServices: map[string]*APIServiceState{},
		Targets: map[string]*Target{}, Reads: map[string][]MetricRead{}}
	k := c.Kube
	hpas, err := k.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", namespace, err)
	}
	s.HPAs = hpas.Items
	pods, err := k.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", namespace, err)
	}
	s.Pods = pods.Items
	deps, err := k.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments in %s: %w", namespace, err)
	}
	s.Deployments = deps.Items
	sts, err := k.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list StatefulSets in %s: %w", namespace, err)
	}
	s.StatefulSets = sts.Items
	if ev, err := k.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		s.Events = ev.Items
	} else {
		return nil, fmt.Errorf("list Events in %s: %w", namespace, err)
	}
	if l, err := k.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		s.PDBs = l.Items
	} else {
		return nil, fmt.Errorf("list PodDisruptionBudgets in %s: %w", namespace, err)
	}
	if l, err := k.CoreV1().LimitRanges(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		s.LimitRanges = l.Items
	} else {
		s.LimitRangesErr = fmt.Errorf("list LimitRanges in %s: %w", namespace, err)
	}
	if l, err := k.CoreV1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		s.Quotas = l.Items
	} else {
		s.QuotasErr = fmt.Errorf("list ResourceQuotas in %s: %w", namespace, err)
	}
	if l, err := k.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		s.Nodes = l.Items // cluster-scoped: a namespaced user may not read them
	}
	for _, name := range MetricsAPIs {
		st, err := gatherAPIService(ctx, c, name)
		if err != nil {
			return nil, err
		}
		if st != nil {
			s.APIServices[name] = st
		}
	}
	if err := gatherVPAs(ctx, c, s); err != nil {
		return nil, err
	}

	mc, err := metricsclient.NewForConfig(withTimeout(c.Config))
	if err != nil {
		return nil, err
	}
	if l, err := mc.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		s.PodUsage = map[string]map[string]corev1.ResourceList{}
		for _, pm := range l.Items {
			s.PodUsage[pm.Name] = map[string]corev1.ResourceList{}
			for _, ct := range pm.Containers {
				s.PodUsage[pm.Name][ct.Name] = ct.Usage
			}
		}
	} else {
		s.PodUsageErr = err
	}
	s.Throttling, s.ThrottlingErr = gatherThrottling(ctx, k, namespace, s.Pods)
	dc, err := discovery.NewDiscoveryClientForConfig(withTimeout(c.Config))
	if err != nil {
		return nil, err
	}
	cmc := custom_metrics.NewForConfig(withTimeout(c.Config), c.Mapper, custom_metrics.NewAvailableAPIsGetter(dc))
	emc, err := external_metrics.NewForConfig(withTimeout(c.Config))
	if err != nil {
		return nil, err
	}
	r := reader{ctx: ctx, ns: namespace, resource: mc, custom: cmc, external: emc}
	for i := range s.HPAs {
		h := &s.HPAs[i]
		t := gatherTarget(ctx, k, namespace, h.Spec.ScaleTargetRef)
		s.Targets[h.Name] = t
		if t.Err != nil {
			continue
		}
		sel, err := labels.Parse(t.Selector)
		if err != nil {
			t.Err = fmt.Errorf("scale status.selector %q: %w", t.Selector, err)
			continue
		}
		reads := make([]MetricRead, len(h.Spec.Metrics))
		for j := range h.Spec.Metrics {
			reads[j] = r.read(&h.Spec.Metrics[j], sel)
		}
		s.Reads[h.Name] = reads
	}
	return s, nil
}

func withTimeout(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	c.Timeout = metricsTimeout
	return c
}

func fromUnstructured(obj map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}

func gatherAPIService(ctx context.Context, c Clients, name string) (*APIServiceState, error) {
	a, err := cluster.GetAPIService(ctx, c.Dynamic, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get APIService %s: %w", name, err)
	}
	st := &APIServiceState{APIService: *a}
	ref := st.APIService.Spec.Service
	if ref == nil {
		return st, nil
	}
	svc, err := c.Kube.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			st.ServiceErr = err
		}
		return st, nil
	}
	st.Service = svc
	if len(svc.Spec.Selector) == 0 {
		if l, err := c.Kube.DiscoveryV1().EndpointSlices(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + ref.Name}); err == nil {
			st.Endpoints = l.Items
		}
		return st, nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if l, err := c.Kube.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()}); err == nil {
		st.Pods = l.Items
	}
	if l, err := c.Kube.AppsV1().Deployments(ref.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range l.Items {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				st.Deployments = append(st.Deployments, d)
			}
		}
	}
	return st, nil
}

func gatherVPAs(ctx context.Context, c Clients, s *Snapshot) error {
	l, err := c.Dynamic.Resource(vpaGVR).Namespace(s.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return nil
	case err != nil:
		return fmt.Errorf("list VerticalPodAutoscalers in %s: %w", s.Namespace, err)
	}
	s.VPACRD = true
	for _, u := range l.Items {
		var v vpav1.VerticalPodAutoscaler
		if err := fromUnstructured(u.Object, &v); err != nil {
			return fmt.Errorf("VerticalPodAutoscaler %s/%s: %w", s.Namespace, u.GetName(), err)
		}
		s.VPAs = append(s.VPAs, v)
	}
	// The recommender, wherever it runs (the upstream manifests put it in
	// kube-system with app=vpa-recommender).
	opts := metav1.ListOptions{LabelSelector: "app=vpa-recommender"}
	pl, err := c.Kube.CoreV1().Pods("").List(ctx, opts)
	if err != nil {
		pl, err = c.Kube.CoreV1().Pods("kube-system").List(ctx, opts)
	}
	if err == nil {
		s.VPARecommenders = pl.Items
	}
	return nil
}

func gatherTarget(ctx context.Context, k kubernetes.Interface, ns string, ref autoscalingv2.CrossVersionObjectReference) *Target {
	t := &Target{Kind: ref.Kind, Name: ref.Name}
	var sc *autoscalingv1.Scale
	var err error
	switch ref.Kind {
	case "Deployment":
		sc, err = k.AppsV1().Deployments(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "StatefulSet":
		sc, err = k.AppsV1().StatefulSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "ReplicaSet":
		sc, err = k.AppsV1().ReplicaSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	default:
		err = fmt.Errorf("doctor reads the scale of Deployments, StatefulSets and ReplicaSets, not %s", ref.Kind)
	}
	if err != nil {
		t.Err = err
		return t
	}
	t.SpecReplicas, t.StatusReplicas, t.Selector = sc.Spec.Replicas, sc.Status.Replicas, sc.Status.Selector
	return t
}

// reader queries the metrics APIs as the HPA controller's REST metrics
// client does (pkg/controller/podautoscaler/metrics/client.go).
type reader struct {
	ctx      context.Context
	ns       string
	resource metricsclient.Interface
	custom   custom_metrics.CustomMetricsClient
	external external_metrics.ExternalMetricsClient
}

func rawPath(base string, q url.Values) string {
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

func (r reader) read(m *autoscalingv2.MetricSpec, podSel labels.Selector) MetricRead {
	var rd MetricRead
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		res, container := corev1.ResourceName(""), ""
		if m.Resource != nil {
			res = m.Resource.Name
		} else if m.ContainerResource != nil {
			res, container = m.ContainerResource.Name, m.ContainerResource.Container
		}
		rd.Query = rawPath("/apis/metrics.k8s.io/v1beta1/namespaces/"+r.ns+"/pods", url.Values{"labelSelector": {podSel.String()}})
		l, err := r.resource.MetricsV1beta1().PodMetricses(r.ns).List(r.ctx, metav1.ListOptions{LabelSelector: podSel.String()})
		if err != nil {
			rd.Err = fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
			return rd
		}
		rd.PodValues = map[string]Sample{}
		for _, pm := range l.Items {
			var sum int64
			missing := len(pm.Containers) == 0
			for _, c := range pm.Containers {
				if container != "" && c.Name != container {
					continue
				}
				v, ok := c.Usage[res]
				if !ok {
					missing = true
					break
				}
				sum += v.MilliValue()
			}
			if !missing {
				rd.PodValues[pm.Name] = Sample{Value: sum, Timestamp: pm.Timestamp.Time, Window: pm.Window.Duration}
			}
		}
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods == nil {
			return rd
		}
		msel, err := metav1.LabelSelectorAsSelector(m.Pods.Metric.Selector)
		if err != nil {
			rd.Err = err
			return rd
		}
		q := url.Values{"labelSelector": {podSel.String()}}
		if !msel.Empty() {
			q.Set("metricLabelSelector", msel.String())
		}
		rd.Query = rawPath("/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+r.ns+"/pods/*/"+m.Pods.Metric.Name, q)
		l, err := r.custom.NamespacedMetrics(r.ns).GetForObjects(schema.GroupKind{Kind: "Pod"}, podSel, m.Pods.Metric.Name, msel)
		if err != nil {
			rd.Err = fmt.Errorf("unable to fetch metrics from custom metrics API: %w", err)
			return rd
		}
		rd.PodValues = map[string]Sample{}
		for _, it := range l.Items {
			w := time.Minute
			if it.WindowSeconds != nil {
				w = time.Duration(*it.WindowSeconds) * time.Second
			}
			rd.PodValues[it.DescribedObject.Name] = Sample{Value: it.Value.MilliValue(), Timestamp: it.Timestamp.Time, Window: w}
		}
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object == nil {
			return rd
		}
		msel, err := metav1.LabelSelectorAsSelector(m.Object.Metric.Selector)
		if err != nil {
			rd.Err = err
			return rd
		}
		gv, _ := schema.ParseGroupVersion(m.Object.DescribedObject.APIVersion)
		rd.Query = fmt.Sprintf("/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/%s/%s/%s", r.ns, m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, m.Object.Metric.Name)
		v, err := r.custom.NamespacedMetrics(r.ns).GetForObject(schema.GroupKind{Group: gv.Group, Kind: m.Object.DescribedObject.Kind}, m.Object.DescribedObject.Name, m.Object.Metric.Name, msel)
		if err != nil {
			rd.Err = fmt.Errorf("unable to fetch metrics from custom metrics API: %w", err)
			return rd
		}
		rd.ObjectValue = v.Value.MilliValue()
	case autoscalingv2.ExternalMetricSourceType:
		if m.External == nil {
			return rd
		}
		msel, err := metav1.LabelSelectorAsSelector(m.External.Metric.Selector)
		if err != nil {
			rd.Err = err
			return rd
		}
		q := url.Values{}
		if !msel.Empty() {
			q.Set("labelSelector", msel.String())
		}
		rd.Query = rawPath("/apis/external.metrics.k8s.io/v1beta1/namespaces/"+r.ns+"/"+m.External.Metric.Name, q)
		sum, err := cluster.ReadExternalSum(r.external, r.ns, m.External.Metric.Name, msel)
		switch {
		case errors.Is(err, cluster.ErrNoExternalSeries):
			rd.Err = fmt.Errorf("unable to get external metric %s/%s/%s: %w", r.ns, m.External.Metric.Name, msel, err)
			return rd
		case err != nil:
			rd.Err = fmt.Errorf("unable to fetch metrics from external metrics API: %w", err)
			return rd
		}
		rd.ExternalValues = []int64{sum.Value.MilliValue()}
	}
	return rd
}
