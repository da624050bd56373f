package scrape

import "strings"

// KubePrometheusStack is a release of the kube-prometheus-stack Helm chart,
// the reference install of the metrics pipeline.
type KubePrometheusStack struct {
	Release, Namespace string
}

// Reference is the install k8s/performance is configured for:
//
//	helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
//	  --namespace monitoring --create-namespace
var Reference = KubePrometheusStack{Release: "kube-prometheus-stack", Namespace: "monitoring"}

// ServiceMonitorSelector is the label the release's Prometheus selects
// ServiceMonitors (and PrometheusRules) by, with the chart's defaults
// (serviceMonitorSelectorNilUsesHelmValues: true → release: <release name>).
func (k KubePrometheusStack) ServiceMonitorSelector() map[string]string {
	return map[string]string{"release": k.Release}
}

// PrometheusURL is the release's Prometheus Service, as the chart names it
// ("<fullname>-prometheus", port 9090), in Prometheus Adapter's url/port form.
func (k KubePrometheusStack) PrometheusURL() (url string, port int) {
	return "http://" + k.fullname() + "-prometheus." + k.Namespace + ".svc", 9090
}

// fullname is the chart's kube-prometheus-stack.fullname helper without
// overrides: the release name if it contains the chart name, else
// "<release>-kube-prometheus-stack", cut to 26 characters.
func (k KubePrometheusStack) fullname() string {
	const chart = "kube-prometheus-stack"
	n := k.Release
	if !strings.Contains(n, chart) {
		n += "-" + chart
	}
	if len(n) > 26 {
		n = n[:26]
	}
	return strings.TrimSuffix(n, "-")
}
