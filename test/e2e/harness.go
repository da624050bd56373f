//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/internal/audio"
	vcluster "github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/test/e2e/cluster"
	"github.com/voiceassist/autoscaling/test/e2e/nodeagent"
)

// metricsServerImageRepo is the image of the base's metrics-server
// Deployment (k8s/performance/base/metrics-server.yaml), without its tag.
const metricsServerImageRepo = "registry.k8s.io/metrics-server/metrics-server"

// metricsServerImage maps the manifests' metrics-server image to the real
// metrics-server v0.8.0 that hack/e2e/build.sh built, so the metrics-server
// Deployment, Service and APIService that every overlay applies (the
// README's step 1) run as they would on a real cluster: the pod is
// scheduled on the node, probed on its own /livez and /readyz, put into
// its Service's EndpointSlice by the endpointslice controller, and the
// aggregation layer routes metrics.k8s.io to it.
//
// What a container image would provide and this machine cannot:
//
//   - in-cluster credentials (a projected ServiceAccount token and the
//     kubernetes Service's ClusterIP): the process gets --kubeconfig (and
//     --authentication-/--authorization-kubeconfig) pointing at an admin
//     kubeconfig readable only by the pod's runAsUser, taken from the
//     rendered manifest;
//   - a pod network of its own: every pod shares the cluster's network
//     namespace, and the node's kubelet endpoint already holds port 10250
//     on the node IP, so it binds its pod IP (--bind-address=$(POD_IP));
//   - a kubelet serving certificate signed by the cluster CA: the node
//     agent's is self-signed, so it scrapes with --kubelet-insecure-tls.
//
// The returned function configures the agent (nodeagent.StartForCluster);
// the files live under c.Dir and go with it.
func metricsServerImage(c *cluster.Cluster) (func(*nodeagent.Agent), error) {
	bin := bins[cluster.MetricsServer]
	if bin == "" {
		return nil, fmt.Errorf("no %s binary from hack/e2e/build.sh", cluster.MetricsServer)
	}
	uid, err := metricsServerUID()
	if err != nil {
		return nil, err
	}
	// The pod runs as its runAsUser: the cluster's directory is 0700, so
	// the binary and its kubeconfig go into a directory it can traverse;
	// not under /tmp, which is the pod's emptyDir mount path (the agent
	// rewrites /tmp/... in its args onto the volume).
	// Named after our pid, so hack/e2e/cleanup.sh can remove it (it holds
	// an admin token) when this process dies without cleaning up.
	dir, err := os.MkdirTemp("/var/tmp", fmt.Sprintf("va-e2e-%d-metrics-server-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	exe := filepath.Join(dir, "metrics-server")
	if err := copyFile(bin, exe, 0o755); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(c.Dir, "pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.RESTConfig().Host, CertificateAuthorityData: ca}
	cfg.AuthInfos["metrics-server"] = &clientcmdapi.AuthInfo{Token: c.RESTConfig().BearerToken}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "metrics-server"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		return nil, err
	}
	if err := os.Chown(kc, uid, uid); err != nil {
		return nil, err
	}
	if err := os.Chmod(kc, 0o600); err != nil {
		return nil, err
	}
	harnessCleanup = append(harnessCleanup, func(bool) { os.RemoveAll(dir) })
	// The agent's directory (pod logs and volumes) is kept, like the
	// cluster's, when the run fails or VA_E2E_KEEP=1.
	agentDir, err := os.MkdirTemp("", "va-e2e-nodeagent-")
	if err != nil {
		return nil, err
	}
	harnessCleanup = append(harnessCleanup, func(failed bool) {
		if failed || os.Getenv("VA_E2E_KEEP") == "1" {
			log.Printf("node agent's pod logs and volumes kept in %s", agentDir)
			return
		}
		os.RemoveAll(agentDir)
	})
	return func(a *nodeagent.Agent) {
		a.Dir = agentDir
		a.Images[metricsServerImageRepo] = nodeagent.Binary{
			Path: exe,
			AppendArgs: []string{
				"--bind-address=$(POD_IP)",
				"--kubelet-insecure-tls",
				"--kubeconfig=" + kc,
				"--authentication-kubeconfig=" + kc,
				"--authorization-kubeconfig=" + kc,
			},
		}
	}, nil
}

// harnessCleanup runs when TestMain ends, told whether the run failed.
var harnessCleanup []func(failed bool)

// metricsServerUID is the runAsUser of the rendered metrics-server
// container (k8s/performance/metrics-server).
func metricsServerUID() (int, error) {
	_, set, err := renderMetricsServer()
	if err != nil {
		return 0, err
	}
	for _, d := range set.Deployments {
		if d.Namespace != "kube-system" || d.Name != "metrics-server" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
				return int(*sc.RunAsUser), nil
			}
		}
		if sc := d.Spec.Template.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil {
			return int(*sc.RunAsUser), nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("k8s/performance/metrics-server renders no Deployment kube-system/metrics-server")
}

// renderMetricsServer builds k8s/performance/metrics-server (the standard
// variant: the node agent adds --kubelet-insecure-tls itself).
func renderMetricsServer() ([]*unstructured.Unstructured, *kube.Set, error) {
	src, err := render.Embedded()
	if err != nil {
		return nil, nil, err
	}
	m, err := src.MetricsServer("standard")
	if err != nil {
		return nil, nil, err
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		return nil, nil, err
	}
	objs, err := vcluster.Objects(m)
	return objs, set, err
}

// ensureMetricsServer installs metrics-server as the README's step 1 does
// (it is in no environment): applied with vactl's field manager, then its
// Deployment waited for and the APIService v1beta1.metrics.k8s.io
// Available. Scenarios that need CPU and memory metrics call it; a
// metrics-server already there (vactl's, or an earlier scenario's) is
// re-applied unchanged.
func ensureMetricsServer(ctx context.Context, t *testing.T) {
	t.Helper()
	objs, set, err := renderMetricsServer()
	if err != nil {
		t.Fatal(err)
	}
	applyAll(ctx, t, applyOrder(objs), false)
	if t.Failed() {
		t.FailNow()
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for ref, err := range waitWorkloadsReady(wctx, set.Workloads()) {
		t.Fatalf("metrics-server %s: %v", ref, err)
	}
	if err := eventually(wctx, func(ctx context.Context) error { return apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io") }); err != nil {
		t.Fatalf("metrics-server: %v", err)
	}
}

// apiServiceAvailable is nil when the APIService is Available.
func apiServiceAvailable(ctx context.Context, name string) error {
	u, err := dyn.Resource(apiServiceGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		if m, _ := x.(map[string]any); m["type"] == "Available" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("APIService %s not Available: %v", name, conds)
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// envInt reads an integer knob, def when unset.
func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}

// waitWorkloadsReady waits for all workloads at once (waitWorkloadReady)
// and returns the error of each that did not get ready, by Ref.
func waitWorkloadsReady(ctx context.Context, ws []kube.Workload) map[string]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitWorkloadReady(ctx, w); err != nil {
				mu.Lock()
				errs[w.Ref()] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// waitWorkloadReady waits until the live workload has as many pods as its
// spec.replicas (which the HPA may have set), each bound to the node,
// Running and Ready, not terminating.
func waitWorkloadReady(ctx context.Context, w kube.Workload) error {
	sel := labels.SelectorFromSet(w.Selector.MatchLabels).String()
	return eventually(ctx, func(ctx context.Context) error {
		var want int32
		switch w.Kind {
		case "Deployment":
			d, err := cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			want = ptr.Deref(d.Spec.Replicas, 1)
			if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.Replicas != want {
				return fmt.Errorf("rollout in progress: generation %d observed %d, replicas %d updated %d of %d",
					d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas, want)
			}
		case "StatefulSet":
			s, err := cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			want = ptr.Deref(s.Spec.Replicas, 1)
		default:
			return fmt.Errorf("unknown workload kind %s", w.Kind)
		}
		pods, err := cs.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		var ready int32
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			c := podCondition(&p, corev1.PodReady)
			if p.Spec.NodeName != agent.NodeName || p.Status.Phase != corev1.PodRunning || c == nil || c.Status != corev1.ConditionTrue {
				return fmt.Errorf("pod %s: node %q, phase %s, Ready %v, containers %s; events: %s",
					p.Name, p.Spec.NodeName, p.Status.Phase, condStatus(c), containerStates(&p), events(ctx, w.Namespace, p.Name))
			}
			ready++
		}
		if ready != want {
			return fmt.Errorf("%d pods Ready, spec.replicas %d", ready, want)
		}
		return nil
	})
}

func condStatus(c *corev1.PodCondition) string {
	if c == nil {
		return "none"
	}
	return string(c.Status)
}

func containerStates(p *corev1.Pod) string {
	var out []string
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			out = append(out, fmt.Sprintf("%s waiting %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
		case s.State.Terminated != nil:
			out = append(out, fmt.Sprintf("%s terminated %s (%d)", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode))
		case s.State.Running != nil:
			out = append(out, fmt.Sprintf("%s running ready=%v restarts=%d", s.Name, s.Ready, s.RestartCount))
		}
	}
	return "[" + strings.Join(out, "; ") + "]"
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func describeConditions(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var out []string
	for _, c := range h.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s (%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "; ")
}

// describeCurrentMetrics prints status.currentMetrics as `kubectl get hpa`
// would, "<unknown>" for a metric the controller could not read.
func describeCurrentMetrics(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var out []string
	for i, spec := range h.Spec.Metrics {
		cur := "<unknown>"
		if i < len(h.Status.CurrentMetrics) {
			if v, ok := metricValue(h.Status.CurrentMetrics[i]); ok {
				cur = v
			}
		}
		out = append(out, fmt.Sprintf("%s %s/%s", kube.MetricKey(spec), cur, kube.MetricTarget(spec)))
	}
	return strings.Join(out, ", ")
}

// metricValue is the current value of one status.currentMetrics entry as
// kubectl shows it, and whether it has one.
func metricValue(m autoscalingv2.MetricStatus) (string, bool) {
	var cur *autoscalingv2.MetricValueStatus
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource != nil {
			cur = &m.Resource.Current
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource != nil {
			cur = &m.ContainerResource.Current
		}
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods != nil {
			cur = &m.Pods.Current
		}
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object != nil {
			cur = &m.Object.Current
		}
	case autoscalingv2.ExternalMetricSourceType:
		if m.External != nil {
			cur = &m.External.Current
		}
	}
	if cur == nil {
		return "", false
	}
	switch {
	case cur.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *cur.AverageUtilization), true
	case cur.AverageValue != nil:
		return cur.AverageValue.String(), true
	case cur.Value != nil:
		return cur.Value.String(), true
	}
	return "", false
}

// deploy applies objs (a rendered overlay, in renderEnv's order, possibly
// changed by a test overlay) as vactl does and waits until every workload of set has all its
// pods Running and Ready on the node, its rollout done.
func deploy(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured, set *kube.Set) {
	t.Helper()
	ensureMetricsServer(ctx, t)
	applyAll(ctx, t, objs, false)
	if t.Failed() {
		t.FailNow()
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	errs := waitWorkloadsReady(wctx, set.Workloads())
	for _, w := range set.Workloads() {
		if err := errs[w.Ref()]; err != nil {
			t.Errorf("%s: %v", w.Ref(), err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// podClient is an HTTP client whose connections are made inside the
// cluster's namespace, so it reaches pod IPs.
func podClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:         cl.Netns.DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// readyEndpoints lists "ip:port" of the ready endpoints of a Service's
// port, from its EndpointSlices: what kube-proxy would balance over.
func readyEndpoints(ctx context.Context, namespace, service, port string) ([]string, error) {
	slices, err := cs.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range slices.Items {
		var p int32
		for _, sp := range s.Ports {
			if sp.Name != nil && *sp.Name == port && sp.Port != nil {
				p = *sp.Port
			}
		}
		if p == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(p))))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// balancer round-robins over a Service's ready endpoints, refreshed every
// second: the client-side stand-in for kube-proxy (this cluster has none),
// so a new pod gets traffic once it is Ready, as behind a real Service.
type balancer struct {
	mu   sync.Mutex
	eps  []string
	next int
}

func newBalancer(ctx context.Context, namespace, service, port string) (*balancer, error) {
	b := &balancer{}
	refresh := func() error {
		eps, err := readyEndpoints(ctx, namespace, service, port)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.eps = eps
		b.mu.Unlock()
		return nil
	}
	if err := refresh(); err != nil {
		return nil, err
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				refresh()
			}
		}
	}()
	return b, nil
}

// pick returns the next endpoint, "" when there is none.
func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.eps) == 0 {
		return ""
	}
	b.next = (b.next + 1) % len(b.eps)
	return b.eps[b.next]
}

// testWAV is seconds of 16-bit PCM at rate Hz with channels channels:
// speech-like tone bursts in low noise, as the audio benchmarks use.
func testWAV(seconds float64, rate, channels int) []byte {
	n := int(seconds * float64(rate))
	rng := rand.New(rand.NewPCG(7, 7))
	chans := make([][]float64, channels)
	for c := range chans {
		x := make([]float64, n)
		for i := range x {
			x[i] = 0.002 * (rng.Float64()*2 - 1)
			t := float64(i) / float64(rate)
			if math.Mod(t, 1.7) < 1.1 { // a 1.1 s "word" every 1.7 s
				f := 140.0
				x[i] += 0.25 * (math.Sin(2*math.Pi*f*t) + 0.5*math.Sin(2*math.Pi*2*f*t) + 0.25*math.Sin(2*math.Pi*3*f*t))
			}
		}
		chans[c] = x
	}
	var buf bytes.Buffer
	if err := audio.Encode(&buf, &audio.Clip{SampleRate: rate, Channels: chans}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// applyOrder sorts objects as `kubectl apply -k` sends them (kustomize's
// legacy order): namespaces and CRDs first, then everything a pod may
// reference (ServiceAccounts, RBAC, ConfigMaps, Secrets, Services,
// LimitRanges, quotas, claims), then the workloads, then what refers to
// workloads (HPAs, PDBs) and the aggregation layer's APIServices. The node
// agent resolves a Service name in a container's env only if the Service
// exists when the container starts (docs/node-agent.md), as a program
// resolving DNS at start-up would.
func applyOrder(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	rank := func(u *unstructured.Unstructured) int {
		switch u.GetKind() {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		case "ResourceQuota", "LimitRange", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
			"ConfigMap", "Secret", "Service", "PersistentVolumeClaim", "PriorityClass":
			return 2
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod":
			return 3
		}
		return 4
	}
	out := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}
