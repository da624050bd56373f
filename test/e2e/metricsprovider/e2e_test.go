//go:build e2e

package main

// TestThroughKubeAPIServer runs voiceassist-metrics-provider as the e2e
// harness will: a process in the local cluster's network namespace
// (test/e2e/cluster), registered through the aggregation layer with
// APIServices that point at a selector-less Service and an EndpointSlice
// with its address. Prometheus runs in the namespace too and scrapes fixed
// series from this test. Then, through kube-apiserver:
//
//   - GET external.metrics.k8s.io .../voiceassist_queue_depth?labelSelector=queue=voice-jobs
//   - GET custom.metrics.k8s.io (v1beta1 and v1beta2) .../pods/*/http_requests_per_second
//   - the HPA controller of kube-controller-manager reads the worker HPA's
//     External metrics (the real k8s/performance/base/worker-hpa.yaml,
//     without its Resource metrics: no metrics-server runs here).
//
//	cd test/e2e/metricsprovider && go test -tags e2e -count=1 -v -run TestThroughKubeAPIServer .
//
// Needs root, Debian's etcd-server and prometheus, and the cached kube
// binaries of hack/e2e/build.sh (it never builds them).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/test/e2e/cluster"
)

// Where things listen inside the cluster's network namespace.
const (
	providerIP   = "10.243.0.251" // node network; clear of the node agent (10.243.0.2…) and metrics-server (.250)
	providerPort = 4443
	targetAddr   = "10.243.0.252:9100" // this test's fixed series
	promAddr     = "127.0.0.1:9090"
)

const exposition = `# TYPE voiceassist_queue_depth gauge
voiceassist_queue_depth{namespace="voiceassist",pod="queue-exporter-1",queue="voice-jobs"} 7
voiceassist_queue_depth{namespace="voiceassist",pod="queue-exporter-2",queue="voice-jobs"} 7
voiceassist_queue_depth{namespace="voiceassist",pod="queue-exporter-1",queue="transcribe"} 12
# TYPE voiceassist_queue_oldest_job_age_seconds gauge
voiceassist_queue_oldest_job_age_seconds{namespace="voiceassist",pod="queue-exporter-1",queue="voice-jobs"} 42.5
# TYPE http_requests_total counter
`

func TestThroughKubeAPIServer(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root := repoRoot(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not on PATH: install Debian's prometheus (hack/e2e/deps.sh)")
	}

	// The provider binary: build.sh's when the harness has the hook,
	// otherwise built here (a few seconds with a warm Go build cache).
	bins := cachedBinaries(t, root)
	provBin := os.Getenv("VA_E2E_METRICS_PROVIDER")
	if provBin == "" {
		provBin = filepath.Join(t.TempDir(), "voiceassist-metrics-provider")
		out, err := exec.Command("go", "build", "-o", provBin, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	t.Logf("provider binary %s (%.1fs)", provBin, time.Since(began).Seconds())

	c, err := cluster.Start(ctx, cluster.Config{Bins: bins, Logf: t.Logf, Keep: os.Getenv("VA_E2E_KEEP") == "1",
		HPASyncPeriod: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Stop(t.Failed()) }()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	// Fixed series, served from inside the namespace; two gateway pods'
	// counters grow at 40 and 20 req/s.
	start := time.Now()
	l, err := c.Netns.Listen("tcp", targetAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e := time.Since(start).Seconds()
		fmt.Fprint(w, exposition)
		fmt.Fprintf(w, "http_requests_total{namespace=\"voiceassist\",pod=\"voiceassist-server-a\"} %g\n", 40*e)
		fmt.Fprintf(w, "http_requests_total{namespace=\"voiceassist\",pod=\"voiceassist-server-b\"} %g\n", 20*e)
	})}
	go srv.Serve(l)
	defer srv.Close()

	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: fixed\n    honor_labels: true\n    static_configs:\n      - targets: [%q]\n", targetAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartProcess("prometheus", promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"), "--web.listen-address="+promAddr, "--log.level=warn"); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "provider-certs")
	prov, err := c.StartProcess("voiceassist-metrics-provider", provBin,
		"--rules="+filepath.Join(root, "k8s", "performance", "prometheus-adapter-values.yaml"),
		"--prometheus-url=http://"+promAddr,
		"--lister-kubeconfig="+c.AdminKubeconfig,
		"--authentication-kubeconfig="+c.AdminKubeconfig,
		"--authorization-kubeconfig="+c.AdminKubeconfig,
		"--cert-dir="+certDir,
		"--bind-address="+providerIP,
		fmt.Sprintf("--secure-port=%d", providerPort),
		"--v=2",
	)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("provider log (%s):\n%s", prov.Log, prov.Tail(40))
		}
		for _, d := range c.Dead() {
			t.Errorf("process died: %s", d)
		}
	}()
	if err := Register(ctx, cs, providerIP, providerPort); err != nil {
		t.Fatal(err)
	}

	// Objects the requests are about: the gateway pods (Pending: no node)
	// and the worker Deployment with the worker HPA's External metrics.
	mustCreate(t, ctx, cs)

	if err := WaitAvailable(ctx, cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("APIServices available after %.1fs", time.Since(began).Seconds())
	rc := cs.Discovery().RESTClient()

	// External: the worker HPA's request, through kube-apiserver.
	var ext struct {
		Items []struct {
			MetricName   string            `json:"metricName"`
			MetricLabels map[string]string `json:"metricLabels"`
			Value        string            `json:"value"`
		} `json:"items"`
	}
	getJSON(t, ctx, cs, 60*time.Second, "/apis/external.metrics.k8s.io/v1beta1/namespaces/voiceassist/voiceassist_queue_depth", "queue=voice-jobs", &ext,
		func() bool { return len(ext.Items) == 1 })
	if it := ext.Items[0]; it.MetricName != "voiceassist_queue_depth" || it.Value != "7" {
		t.Errorf("external voiceassist_queue_depth{queue=voice-jobs} = %+v, want 7 (max over the two exporters)", it)
	}
	getJSON(t, ctx, cs, 10*time.Second, "/apis/external.metrics.k8s.io/v1beta1/namespaces/voiceassist/voiceassist_queue_depth", "queue in (voice-jobs,transcribe)", &ext,
		func() bool { return len(ext.Items) == 1 })
	if ext.Items[0].Value != "12" {
		t.Errorf("queue in (voice-jobs,transcribe) = %+v, want 12", ext.Items)
	}
	b, err := rc.Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces/voiceassist/voiceassist_queue_length").DoRaw(ctx)
	if !apierrors.IsNotFound(err) {
		t.Errorf("unknown external metric: %v %s, want 404", err, b)
	}

	// Custom, both versions the HPA controller may pick.
	for _, v := range []string{"v1beta1", "v1beta2"} {
		var cm struct {
			Items []struct {
				DescribedObject struct{ Kind, Name, Namespace string } `json:"describedObject"`
				Value           string                                 `json:"value"`
			} `json:"items"`
		}
		getJSON(t, ctx, cs, 30*time.Second, "/apis/custom.metrics.k8s.io/"+v+"/namespaces/voiceassist/pods/*/http_requests_per_second", "app=voiceassist-server", &cm,
			func() bool { return len(cm.Items) == 2 })
		for i, want := range []string{"voiceassist-server-a", "voiceassist-server-b"} {
			it := cm.Items[i]
			if it.DescribedObject.Kind != "Pod" || it.DescribedObject.Name != want || it.DescribedObject.Namespace != "voiceassist" || it.Value == "" || it.Value == "0" {
				t.Errorf("%s item %d = %+v, want pod %s with a value", v, i, it, want)
			}
		}
		t.Logf("custom.metrics.k8s.io/%s http_requests_per_second: %+v", v, cm.Items)
	}

	// The HPA controller reads the External metrics through the aggregator.
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	err = wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		hpa, err = cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, "voiceassist-worker-hpa", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got := map[string]string{}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.External == nil {
				continue
			}
			if q := m.External.Current.AverageValue; q != nil {
				got[m.External.Metric.Name] = q.String()
			} else if q := m.External.Current.Value; q != nil {
				got[m.External.Metric.Name] = q.String()
			}
		}
		return got["voiceassist_queue_depth"] == "7" && got["voiceassist_queue_oldest_job_age_seconds"] == "42500m", nil
	})
	if err != nil {
		y, _ := yaml.Marshal(hpa.Status)
		t.Fatalf("the HPA controller never reported depth 7 and age 42.5 s: %v\n%s", err, y)
	}
	t.Logf("voiceassist-worker-hpa status.currentMetrics: depth 7 (per pod, 1 replica), age 42.5 s; whole test %.1fs", time.Since(began).Seconds())
}

// Register registers the provider at ip:port with the aggregation layer,
// as the main e2e suite does (cluster.RegisterMetricsProvider).
func Register(ctx context.Context, cs kubernetes.Interface, ip string, port int32) error {
	return cluster.RegisterMetricsProvider(ctx, cs, ip, port)
}

// WaitAvailable waits until the three APIServices are Available.
func WaitAvailable(ctx context.Context, cs kubernetes.Interface) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range cluster.MetricsAPIServices {
			b, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + name).DoRaw(ctx)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			var s struct {
				Status struct {
					Conditions []struct{ Type, Status, Reason, Message string }
				}
			}
			if err := json.Unmarshal(b, &s); err != nil {
				return false, err
			}
			ok := false
			for _, c := range s.Status.Conditions {
				if c.Type == "Available" {
					ok = c.Status == "True"
					last = fmt.Sprintf("%s: Available=%s %s: %s", name, c.Status, c.Reason, c.Message)
				}
			}
			if !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("APIServices not Available: %v; last: %s", err, last)
	}
	return nil
}

// mustCreate makes the namespace, two gateway pods and the worker
// Deployment with the worker HPA (its External metrics only).
func mustCreate(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voiceassist"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/none"}}}
	for _, name := range []string{"voiceassist-server-a", "voiceassist-server-b"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "voiceassist", Labels: map[string]string{"app": "voiceassist-server"}}, Spec: podSpec}
		// The ServiceAccount admission needs the namespace's default
		// ServiceAccount, which the controller manager makes shortly.
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Pods("voiceassist").Create(ctx, pod, metav1.CreateOptions{})
			return err == nil || apierrors.IsAlreadyExists(err), nil
		})
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
	}
	labels := map[string]string{"app": "voiceassist-worker"}
	_, err := cs.AppsV1().Deployments("voiceassist").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker", Namespace: "voiceassist"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "k8s", "performance", "base", "worker-hpa.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := yaml.UnmarshalStrict(b, &hpa); err != nil {
		t.Fatal(err)
	}
	var ext []autoscalingv2.MetricSpec
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ExternalMetricSourceType {
			ext = append(ext, m)
		}
	}
	if len(ext) != 2 {
		t.Fatalf("worker-hpa.yaml has %d External metrics, want 2", len(ext))
	}
	hpa.Spec.Metrics = ext
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Create(ctx, &hpa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// getJSON GETs path?labelSelector=selector through kube-apiserver until
// done() holds for the decoded answer or timeout passes.
func getJSON(t *testing.T, ctx context.Context, cs kubernetes.Interface, timeout time.Duration, path, selector string, into any, done func() bool) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		b, err := cs.Discovery().RESTClient().Get().AbsPath(path).Param("labelSelector", selector).DoRaw(ctx)
		last = fmt.Sprintf("%v %s", err, bytes.TrimSpace(b))
		if err != nil {
			return false, nil
		}
		if err := json.Unmarshal(b, into); err != nil {
			return false, err
		}
		return done(), nil
	})
	if err != nil {
		t.Fatalf("GET %s?labelSelector=%s: %v; last answer: %s", path, selector, err, last)
	}
}

// cachedBinaries asks hack/e2e/build.sh for the control plane's binaries,
// never building: they must be cached.
func cachedBinaries(t *testing.T, root string) map[string]string {
	t.Helper()
	var errb bytes.Buffer
	bins, err := cluster.Binaries(root, true, &errb, cluster.KubeAPIServer, cluster.KubeControllerManager, cluster.KubeScheduler)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	return bins
}

// repoRoot is the repository's top directory: this module's tests run in
// test/e2e/metricsprovider.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}
