package scrape

import (
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/voiceassist/autoscaling/internal/adapter"
)

func workload(name, image string, port int32, ann map[string]string) Workload {
	return Workload{Kind: "Deployment", Namespace: "ns", Name: name, Template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: ann},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image,
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}}}}},
	}}
}

func service(name string, port corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{port}}}
}

func monitor(ns, app string, ep monitoringv1.Endpoint, nsSel monitoringv1.NamespaceSelector) *monitoringv1.ServiceMonitor {
	return &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: monitoringv1.ServiceMonitorSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Endpoints: []monitoringv1.Endpoint{ep}, NamespaceSelector: nsSel}}
}

func TestTargets(t *testing.T) {
	exp := workload("queue-exporter", "registry.example:5000/voiceassist/queue-exporter:0.1.0", 9121, nil)
	srv := workload("voiceassist-server", "voiceassist/voiceassist-server:0.1.0", 8000,
		map[string]string{AnnotationScrape: "true", AnnotationPort: "8000", AnnotationPath: "/metrics"})
	other := workload("other", "example/other:1", 7000, map[string]string{AnnotationScrape: "true"})
	bad := workload("bad", "example/bad:1", 7001, map[string]string{AnnotationScrape: "true", AnnotationPort: "metrics"})
	svcNamed := service("queue-exporter", corev1.ServicePort{Name: "metrics", Port: 9121, TargetPort: intstr.FromString("metrics")})
	for _, c := range []struct {
		name string
		sm   *monitoringv1.ServiceMonitor
		svc  *corev1.Service
		want []string // Via Port Path of each target
	}{
		{"named port", monitor("ns", "queue-exporter", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{}), svcNamed,
			[]string{"ServiceMonitor ns/queue-exporter endpoints[0] 9121 /metrics"}},
		{"targetPort defaults to port", monitor("ns", "queue-exporter", monitoringv1.Endpoint{Port: "metrics", Path: "/m"}, monitoringv1.NamespaceSelector{}),
			service("queue-exporter", corev1.ServicePort{Name: "metrics", Port: 9121}),
			[]string{"ServiceMonitor ns/queue-exporter endpoints[0] 9121 /m"}},
		{"endpoint targetPort", monitor("ns", "queue-exporter", monitoringv1.Endpoint{TargetPort: ptr(intstr.FromString("metrics"))}, monitoringv1.NamespaceSelector{}), svcNamed,
			[]string{"ServiceMonitor ns/queue-exporter endpoints[0] 9121 /metrics"}},
		{"port not on the Service", monitor("ns", "queue-exporter", monitoringv1.Endpoint{Port: "http"}, monitoringv1.NamespaceSelector{}), svcNamed, nil},
		{"targetPort not on the pod", monitor("ns", "queue-exporter", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{}),
			service("queue-exporter", corev1.ServicePort{Name: "metrics", Port: 9121, TargetPort: intstr.FromString("web")}), nil},
		{"other namespace, no namespaceSelector", monitor("monitoring", "queue-exporter", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{}), svcNamed, nil},
		{"other namespace, matchNames", monitor("monitoring", "queue-exporter", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{MatchNames: []string{"ns"}}), svcNamed,
			[]string{"ServiceMonitor monitoring/queue-exporter endpoints[0] 9121 /metrics"}},
		{"other namespace, any", monitor("monitoring", "queue-exporter", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{Any: true}), svcNamed,
			[]string{"ServiceMonitor monitoring/queue-exporter endpoints[0] 9121 /metrics"}},
		{"selector matches another Service", monitor("ns", "voiceassist-server", monitoringv1.Endpoint{Port: "metrics"}, monitoringv1.NamespaceSelector{}), svcNamed, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, tg := range Targets(Manifests{Workloads: []Workload{exp}, Services: []*corev1.Service{c.svc}, ServiceMonitors: []*monitoringv1.ServiceMonitor{c.sm}}) {
				got = append(got, tg.Via+" "+itoa(tg.Port)+" "+tg.Path)
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("targets %q, want %q", got, c.want)
			}
		})
	}
	// Annotations: an explicit numeric port; every declared port without
	// one; nothing for a port name (the chart's relabeling needs digits).
	var got []string
	for _, tg := range Targets(Manifests{Workloads: []Workload{srv, other, bad, exp}}) {
		got = append(got, tg.Via+" "+itoa(tg.Port)+" "+tg.Path+" "+string(tg.Install))
	}
	want := []string{"Deployment ns/voiceassist-server pod annotations 8000 /metrics annotations", "Deployment ns/other pod annotations 7000 /metrics annotations"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("annotation targets %q, want %q", got, want)
	}
}

func TestExporting(t *testing.T) {
	exp := workload("queue-exporter", "voiceassist/queue-exporter@sha256:abc", 9121, nil)
	c := &exp.Template.Spec.Containers[0]
	for _, tc := range []struct {
		t       Target
		series  string
		verdict string
	}{
		{Target{Workload: exp, Container: c, Port: 9121, Path: "/metrics"}, "voiceassist_queue_depth", "yes"},
		{Target{Workload: exp, Container: c, Port: 9121, Path: "/metrics"}, "http_requests_total", "no"},
		{Target{Workload: exp, Container: c, Port: 9121, Path: "/stats"}, "voiceassist_queue_depth", "no"},
		{Target{Workload: exp, Port: 9999, Path: "/metrics"}, "voiceassist_queue_depth", "no"},
		{Target{Workload: workload("x", "example/x:1", 1, nil), Path: "/metrics"}, "anything", "maybe"},
	} {
		if v, why := tc.t.Exporting(tc.series); v != tc.verdict || (v == "no") != (why != "") {
			t.Errorf("%+v exporting %s: %s (%s), want %s", tc.t, tc.series, v, why, tc.verdict)
		}
	}
	if s, ok := Exports("registry.example/acme/voiceassist-server:1.2"); !ok || len(s) == 0 {
		t.Error("a retargeted registry must keep the image known")
	}
}

func TestCheck(t *testing.T) {
	v, err := adapter.Parse("values.yaml", []byte(`rules:
  custom:
    - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
      resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
      name: {matches: "^http_requests_total$", as: "http_requests_per_second"}
      metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
  external:
    - seriesQuery: 'voiceassist_queue_depth{namespace!=""}'
      resources: {overrides: {namespace: {resource: namespace}}}
      name: {matches: "^voiceassist_queue_depth$"}
      metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>})'
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := RulesFromValues("values.yaml", v)
	q := resource.MustParse("1")
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "ns"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "voiceassist-server", APIVersion: "apps/v1"},
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "http_requests_per_second"}, Target: autoscalingv2.MetricTarget{AverageValue: &q}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "voiceassist_queue_depth"}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "not_served"}}},
			}}}
	scraped := map[string]string{AnnotationScrape: "true"}
	srv := workload("voiceassist-server", "voiceassist/voiceassist-server:0.1.0", 8000, nil)
	exp := workload("queue-exporter", "voiceassist/queue-exporter:0.1.0", 9121, scraped)
	wrong := workload("voiceassist-server", "voiceassist/queue-exporter:0.1.0", 8000, scraped)
	problems := func(ws ...Workload) map[string]string {
		out := map[string]string{}
		for _, r := range Check([]*autoscalingv2.HorizontalPodAutoscaler{hpa}, Manifests{Workloads: ws}, rules) {
			out[r.Field] = r.Problem
			if r.Problem != "" && r.Fix == "" {
				t.Errorf("%s: a problem without a fix", r.Field)
			}
		}
		return out
	}
	got := problems(srv, exp)
	if len(got) != 3 {
		t.Fatalf("%d results, want 3 (the Resource metric is not judged): %v", len(got), got)
	}
	for field, want := range map[string]string{
		"spec.metrics[1].pods.metric.name":     "no ServiceMonitor selects a Service in front of its pods",
		"spec.metrics[2].external.metric.name": "",
		"spec.metrics[3].external.metric.name": `no external rule of values.yaml serves "not_served"`,
	} {
		if p := got[field]; want == "" && p != "" || !strings.Contains(p, want) {
			t.Errorf("%s: problem %q, want %q", field, p, want)
		}
	}
	// The gateway's pods are scraped but run an image without the series;
	// the exporter elsewhere does not count for a Pods metric.
	got = problems(wrong)
	if p := got["spec.metrics[1].pods.metric.name"]; !strings.Contains(p, "does not export http_requests_total") {
		t.Errorf("Pods metric on the wrong image: %q", p)
	}
	if p := got["spec.metrics[2].external.metric.name"]; p != "" {
		t.Errorf("External metric from a scraped exporter in the namespace: %q", p)
	}
	// A namespaced external rule needs the exporter in the HPA's namespace.
	far := exp
	far.Namespace = "elsewhere"
	if p := problems(srv, far)["spec.metrics[2].external.metric.name"]; !strings.Contains(p, "in namespace ns") {
		t.Errorf("exporter in another namespace: %q", p)
	}
}

func TestReferenceNames(t *testing.T) {
	for release, want := range map[string]string{
		"kube-prometheus-stack": "http://kube-prometheus-stack-prometheus.monitoring.svc",
		"prometheus":            "http://prometheus-kube-prometheus-prometheus.monitoring.svc",
		"prom":                  "http://prom-kube-prometheus-stack-prometheus.monitoring.svc",
		"monitoring-stack":      "http://monitoring-stack-kube-prom-prometheus.monitoring.svc",
	} {
		if got, port := (KubePrometheusStack{Release: release, Namespace: "monitoring"}).PrometheusURL(); got != want || port != 9090 {
			t.Errorf("release %s: %s:%d, want %s:9090", release, got, port, want)
		}
	}
	if got := Reference.ServiceMonitorSelector()["release"]; got != "kube-prometheus-stack" {
		t.Errorf("selector release=%q", got)
	}
}

func ptr[T any](v T) *T { return &v }

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestCheckExports: a registry lacking a listed series fails, naming it.
func TestCheckExports(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "http_requests_total", Help: "h"})
	reg.MustRegister(c)
	err := CheckExports("voiceassist/voiceassist-server", reg)
	if err == nil || !strings.Contains(err.Error(), "http_request_duration_seconds_bucket") || strings.Contains(err.Error(), "http_requests_total,") {
		t.Errorf("got %v, want the missing histogram series named", err)
	}
	if err := CheckExports("example/other", reg); err == nil {
		t.Error("an image the table does not know must fail")
	}
}
