// Command voiceassist-metrics-provider is TEST INFRASTRUCTURE. It stands in
// for Prometheus Adapter in the local e2e cluster (docs/local-cluster.md):
// an aggregated API server built on sigs.k8s.io/custom-metrics-apiserver
// (AdapterBase, the library Prometheus Adapter and KEDA's metrics server are
// built on) that serves custom.metrics.k8s.io and external.metrics.k8s.io by
// evaluating OUR Prometheus Adapter rules file
// (k8s/performance/prometheus-adapter-values.yaml) against a real Prometheus.
//
// Prometheus Adapter itself cannot be built or pulled here, and the point of
// the e2e tests is that the rules file the product ships is what the HPAs
// are served from. KEDA was not used: it would replace our HPAs' External
// metrics with its own ScaledObjects. docs/metrics-provider.md has the why
// and how it is started and registered; rulesprovider has what is served.
//
//	voiceassist-metrics-provider --rules k8s/performance/prometheus-adapter-values.yaml \
//	    --prometheus-url http://127.0.0.1:9090 \
//	    --lister-kubeconfig admin.kubeconfig \
//	    --authentication-kubeconfig admin.kubeconfig --authorization-kubeconfig admin.kubeconfig \
//	    --bind-address 10.243.0.251 --secure-port 4443 --cert-dir /tmp/certs
//
// Every flag of AdapterBase (secure serving, delegated authentication and
// authorization, audit, features, --lister-kubeconfig) and of klog works.
package main

import (
	"net/http"
	"os"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/logs"
	"k8s.io/klog/v2"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/test/e2e/metricsprovider/rulesprovider"
)

type metricsProvider struct {
	basecmd.AdapterBase

	rulesFile     string
	prometheusURL string
	queryTimeout  time.Duration
}

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()

	cmd := &metricsProvider{}
	cmd.Name = "voiceassist-metrics-provider"
	fs := cmd.Flags()
	fs.StringVar(&cmd.rulesFile, "rules", "", "Prometheus Adapter Helm chart values file whose rules.custom and rules.external are served (required)")
	fs.StringVar(&cmd.prometheusURL, "prometheus-url", "", "base URL of the Prometheus to query, e.g. http://127.0.0.1:9090 (required)")
	fs.DurationVar(&cmd.queryTimeout, "prometheus-timeout", 10*time.Second, "timeout of one Prometheus query")
	logs.AddFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		klog.Fatalf("flags: %v", err)
	}
	if cmd.rulesFile == "" || cmd.prometheusURL == "" {
		klog.Fatalf("--rules and --prometheus-url are required")
	}

	data, err := os.ReadFile(cmd.rulesFile)
	if err != nil {
		klog.Fatalf("rules: %v", err)
	}
	values, err := adapter.Parse(cmd.rulesFile, data)
	if err != nil {
		klog.Fatalf("rules: %v", err)
	}
	cfg, err := cmd.ClientConfig()
	if err != nil {
		klog.Fatalf("%v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		klog.Fatalf("kubernetes client: %v", err)
	}
	prom := &rulesprovider.Prometheus{URL: cmd.prometheusURL, Client: &http.Client{Timeout: cmd.queryTimeout}}
	p, err := rulesprovider.New(cmd.rulesFile, values, prom, rulesprovider.ClientPodLister{Client: client})
	if err != nil {
		klog.Fatalf("%v", err)
	}
	cmd.WithCustomMetrics(p)
	cmd.WithExternalMetrics(p)

	for _, m := range p.ListAllMetrics() {
		klog.InfoS("serving custom metric", "resource", m.GroupResource.String(), "metric", m.Metric)
	}
	for _, m := range p.ListAllExternalMetrics() {
		klog.InfoS("serving external metric", "metric", m.Metric)
	}
	klog.InfoS("TEST INFRASTRUCTURE: standing in for Prometheus Adapter", "rules", cmd.rulesFile, "prometheus", cmd.prometheusURL)
	if err := cmd.Run(genericapiserver.SetupSignalContext()); err != nil {
		klog.Fatalf("running the metrics API server: %v", err)
	}
}
