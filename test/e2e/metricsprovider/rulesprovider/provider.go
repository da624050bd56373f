// Package rulesprovider is TEST INFRASTRUCTURE: a thin stand-in for
// Prometheus Adapter that serves custom.metrics.k8s.io and
// external.metrics.k8s.io (through sigs.k8s.io/custom-metrics-apiserver)
// by evaluating our Prometheus Adapter rules file,
// k8s/performance/prometheus-adapter-values.yaml, against a real Prometheus.
//
// Why it exists: Prometheus Adapter cannot be built or run from an image
// here, and what the e2e tests must exercise is our rules file, not a
// re-statement of it. So the rules are read by internal/adapter, which
// renders each rule's metricsQuery exactly as Prometheus Adapter does
// (text/template with << >>, Series, LabelMatchers, GroupBy), with the
// matchers Prometheus Adapter adds for each kind of request:
//
//   - custom (rules.custom), Pods metrics only: namespace="<ns>" and
//     pod="<name>" (one pod) or pod=~"<p1>|<p2>" (the pods listed for the
//     request's label selector), plus the request's metric selector;
//     groupBy pod. One MetricValue per pod that has a sample.
//   - external (rules.external): namespace="<ns>" (when the rule maps a
//     label to namespaces) plus the HPA's metric selector (= != =~ !~, as
//     Prometheus Adapter's query builder maps them); no groupBy. One
//     ExternalMetricValue per returned sample.
//
// What it does not do, on purpose: series discovery (each rule serves the
// one series named in its seriesQuery, listed whether or not Prometheus has
// it yet), resources other than pods for custom metrics, and
// resources.template. New rejects rules that need any of them.
package rulesprovider

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/voiceassist/autoscaling/internal/adapter"
)

// podsResource is the only resource custom metrics are served for.
var podsResource = schema.GroupResource{Resource: "pods"}

// PodLister lists the names of the pods of a namespace that match a label
// selector (the objects a Pods metric is asked for).
type PodLister interface {
	PodNames(ctx context.Context, namespace string, selector labels.Selector) ([]string, error)
}

// ClientPodLister lists pods with a Kubernetes client, as Prometheus
// Adapter lists the objects of a selector request.
type ClientPodLister struct{ Client kubernetes.Interface }

// PodNames implements PodLister.
func (l ClientPodLister) PodNames(ctx context.Context, namespace string, selector labels.Selector) ([]string, error) {
	list, err := l.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list.Items))
	for i, p := range list.Items {
		names[i] = p.Name
	}
	return names, nil
}

// served is one rule with what a request needs from it.
type served struct {
	rule   adapter.Rule
	metric string // the name the API serves (name.matches/as)
	series string // the Prometheus series (seriesQuery's metric name)
	nsLabel,
	podLabel string // the series labels mapped to namespaces and pods ("" if none)
}

// Provider implements provider.CustomMetricsProvider and
// provider.ExternalMetricsProvider from a rules file.
type Provider struct {
	custom, external map[string]served
	prom             *Prometheus
	pods             PodLister
	// OnQuery, when set, is called with every PromQL query sent.
	OnQuery func(query string)
}

var (
	_ provider.CustomMetricsProvider   = (*Provider)(nil)
	_ provider.ExternalMetricsProvider = (*Provider)(nil)
)

// New checks the rules this stand-in can serve and returns the provider.
// file names the rules file in errors.
func New(file string, values *adapter.Values, prom *Prometheus, pods PodLister) (*Provider, error) {
	p := &Provider{custom: map[string]served{}, external: map[string]served{}, prom: prom, pods: pods}
	for kind, rules := range map[string][]adapter.Rule{"custom": values.Rules.Custom, "external": values.Rules.External} {
		dst := p.custom
		if kind == "external" {
			dst = p.external
		}
		for i, r := range rules {
			where := fmt.Sprintf("%s: rules.%s[%d] (seriesQuery %q)", file, kind, i, r.SeriesQuery)
			s, err := compile(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if kind == "custom" && (s.podLabel == "" || s.nsLabel == "") {
				return nil, fmt.Errorf("%s: this stand-in serves custom metrics for pods only: resources.overrides must map a label to namespace and one to pod", where)
			}
			if _, dup := dst[s.metric]; dup {
				return nil, fmt.Errorf("%s: metric %q is served by an earlier rule too", where, s.metric)
			}
			dst[s.metric] = s
		}
	}
	return p, nil
}

func compile(r adapter.Rule) (served, error) {
	s := served{rule: r, series: r.SeriesName()}
	if s.series == "" {
		return s, fmt.Errorf("seriesQuery must name one series (this stand-in does no series discovery)")
	}
	name, ok := r.MetricName(s.series)
	if !ok {
		return s, fmt.Errorf("name.matches %q does not match the series %q", r.Name.Matches, s.series)
	}
	s.metric = name
	if r.Resources.Template != "" {
		return s, fmt.Errorf("resources.template is not supported by this stand-in; use resources.overrides")
	}
	for label, o := range r.Resources.Overrides {
		if o.Group != "" {
			return s, fmt.Errorf("resources.overrides.%s: group %q: only core resources are supported", label, o.Group)
		}
		switch o.Resource {
		case "namespace", "namespaces":
			s.nsLabel = label
		case "pod", "pods":
			s.podLabel = label
		default:
			return s, fmt.Errorf("resources.overrides.%s: resource %q: only namespace and pod are supported", label, o.Resource)
		}
	}
	// Render once with placeholders so a broken template fails at start-up.
	if _, err := r.Query(s.series, []adapter.Matcher{{Label: "x", Op: "=", Value: "y"}}, []string{"x"}); err != nil {
		return s, err
	}
	return s, nil
}

// ListAllMetrics lists each custom rule's metric for pods.
func (p *Provider) ListAllMetrics() []provider.CustomMetricInfo {
	var out []provider.CustomMetricInfo
	for _, name := range sortedKeys(p.custom) {
		out = append(out, provider.CustomMetricInfo{GroupResource: podsResource, Namespaced: true, Metric: name})
	}
	return out
}

// ListAllExternalMetrics lists each external rule's metric.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	var out []provider.ExternalMetricInfo
	for _, name := range sortedKeys(p.external) {
		out = append(out, provider.ExternalMetricInfo{Metric: name})
	}
	return out
}

// customRule finds the rule for a custom metric request, or the NotFound
// error Prometheus Adapter answers with.
func (p *Provider) customRule(info provider.CustomMetricInfo) (served, error) {
	s, ok := p.custom[info.Metric]
	isPods := info.GroupResource.Group == "" && (info.GroupResource.Resource == "pods" || info.GroupResource.Resource == "pod")
	if !ok || !isPods || !info.Namespaced {
		return served{}, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	return s, nil
}

// GetMetricByName returns the metric of one pod.
func (p *Provider) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValue, error) {
	s, err := p.customRule(info)
	if err != nil {
		return nil, err
	}
	values, err := p.podValues(ctx, s, name.Namespace, []string{name.Name}, info, metricSelector)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	}
	return &values[0], nil
}

// GetMetricBySelector returns the metric of each pod that matches selector
// and has a value. Like Prometheus Adapter it answers NotFound when no pod
// matches.
func (p *Provider) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValueList, error) {
	s, err := p.customRule(info)
	if err != nil {
		return nil, err
	}
	names, err := p.pods.PodNames(ctx, namespace, selector)
	if err != nil {
		klog.ErrorS(err, "listing pods", "namespace", namespace, "selector", selector.String())
		return nil, apierrors.NewInternalError(fmt.Errorf("listing pods in %s matching %q: %w", namespace, selector, err))
	}
	if len(names) == 0 {
		return nil, provider.NewMetricNotFoundForSelectorError(info.GroupResource, info.Metric, "*", selector)
	}
	values, err := p.podValues(ctx, s, namespace, names, info, metricSelector)
	if err != nil {
		return nil, err
	}
	return &custom_metrics.MetricValueList{Items: values}, nil
}

// podValues renders and runs the rule's query for the named pods.
func (p *Provider) podValues(ctx context.Context, s served, namespace string, pods []string, info provider.CustomMetricInfo, metricSelector labels.Selector) ([]custom_metrics.MetricValue, error) {
	// Prometheus Adapter (pkg/naming/metrics_query.go): namespace, then the
	// resource label, = for one name and =~ "a|b" for several (names are
	// not regexp-escaped there either; pod names have no metacharacters).
	matchers := []adapter.Matcher{{Label: s.nsLabel, Op: "=", Value: namespace}}
	if len(pods) == 1 {
		matchers = append(matchers, adapter.Matcher{Label: s.podLabel, Op: "=", Value: pods[0]})
	} else {
		matchers = append(matchers, adapter.Matcher{Label: s.podLabel, Op: "=~", Value: strings.Join(pods, "|")})
	}
	extra, err := selectorMatchers(metricSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("metric selector %q: %v", metricSelector, err))
	}
	samples, err := p.query(ctx, s, append(matchers, extra...), []string{s.podLabel})
	if err != nil {
		return nil, err
	}
	var metricSel *metav1.LabelSelector
	if metricSelector != nil && !metricSelector.Empty() {
		if metricSel, err = metav1.ParseToLabelSelector(metricSelector.String()); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	wanted := map[string]bool{}
	for _, n := range pods {
		wanted[n] = true
	}
	var out []custom_metrics.MetricValue
	for _, smp := range samples {
		pod := smp.Labels[s.podLabel]
		if !wanted[pod] || !finite(smp.Value) {
			continue
		}
		wanted[pod] = false // one value per pod
		out = append(out, custom_metrics.MetricValue{
			DescribedObject: custom_metrics.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: namespace, Name: pod},
			Metric:          custom_metrics.MetricIdentifier{Name: info.Metric, Selector: metricSel},
			Timestamp:       metav1.NewTime(smp.Time),
			Value:           quantity(smp.Value),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DescribedObject.Name < out[j].DescribedObject.Name })
	return out, nil
}

// GetExternalMetric returns one value per series the rule's query returns
// for the namespace and metric selector.
func (p *Provider) GetExternalMetric(ctx context.Context, namespace string, metricSelector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	s, ok := p.external[info.Metric]
	if !ok {
		return nil, provider.NewMetricNotFoundError(schema.GroupResource{}, info.Metric)
	}
	var matchers []adapter.Matcher
	if s.nsLabel != "" && namespace != "" {
		matchers = append(matchers, adapter.Matcher{Label: s.nsLabel, Op: "=", Value: namespace})
	}
	extra, err := selectorMatchers(metricSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("metric selector %q: %v", metricSelector, err))
	}
	samples, err := p.query(ctx, s, append(matchers, extra...), nil)
	if err != nil {
		return nil, err
	}
	list := &external_metrics.ExternalMetricValueList{Items: []external_metrics.ExternalMetricValue{}}
	for _, smp := range samples {
		if !finite(smp.Value) {
			continue
		}
		list.Items = append(list.Items, external_metrics.ExternalMetricValue{
			MetricName:   info.Metric,
			MetricLabels: smp.Labels,
			Timestamp:    metav1.NewTime(smp.Time),
			Value:        quantity(smp.Value),
		})
	}
	return list, nil
}

// query renders the rule's metricsQuery and evaluates it.
func (p *Provider) query(ctx context.Context, s served, matchers []adapter.Matcher, groupBy []string) ([]Sample, error) {
	q, err := s.rule.Query(s.series, matchers, groupBy)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if p.OnQuery != nil {
		p.OnQuery(q)
	}
	klog.V(4).InfoS("query", "promql", q)
	samples, err := p.prom.Query(ctx, q)
	if err != nil {
		klog.ErrorS(err, "querying Prometheus", "promql", q)
		return nil, apierrors.NewInternalError(fmt.Errorf("query %s: %w", q, err))
	}
	return samples, nil
}

// selectorMatchers turns a metric label selector into Prometheus label
// matchers as Prometheus Adapter's query builder does
// (pkg/external-provider/query_builder.go): = and == to =, != to !=, in to
// =~ "a|b", notin to !~ "a|b", exists to !="", !exists to ="". Values are
// passed through unescaped, as there (a single In value may be a regexp).
func selectorMatchers(sel labels.Selector) ([]adapter.Matcher, error) {
	if sel == nil {
		return nil, nil
	}
	reqs, selectable := sel.Requirements()
	if !selectable {
		return nil, fmt.Errorf("selector matches nothing")
	}
	var out []adapter.Matcher
	for _, r := range reqs {
		vals := r.Values().List() // sorted
		var op string
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals:
			op = "="
			if len(vals) > 1 {
				op = "=~"
			}
		case selection.NotEquals:
			op = "!="
			if len(vals) > 1 {
				op = "!~"
			}
		case selection.In:
			op = "=~"
		case selection.NotIn:
			op = "!~"
		case selection.Exists:
			op = "!="
		case selection.DoesNotExist:
			op = "="
		default:
			return nil, fmt.Errorf("operator %q is not supported", r.Operator())
		}
		out = append(out, adapter.Matcher{Label: r.Key(), Op: op, Value: strings.Join(vals, "|")})
	}
	return out, nil
}

// quantity converts a sample as Prometheus Adapter does: milli-units,
// truncated.
func quantity(v float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(v*1000), resource.DecimalSI)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func sortedKeys(m map[string]served) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
