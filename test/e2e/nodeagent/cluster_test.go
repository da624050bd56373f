//go:build e2e

package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	vacluster "github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/test/e2e/cluster"
)

// The cluster the scenarios here share, started on first use (the unit
// tests in this package need none) and stopped by TestMain.
var (
	clusterOnce sync.Once
	cl          *cluster.Cluster
	clErr       error
	bins        map[string]string
	root        string
)

func TestMain(m *testing.M) {
	log.SetFlags(log.Ltime)
	log.SetPrefix("nodeagent-e2e: ")
	code := m.Run()
	if cl != nil {
		cl.Stop(code != 0)
	}
	os.Exit(code)
}

// startCluster starts the harness's control plane from the cached binaries
// (hack/e2e/build.sh with VA_E2E_NO_BUILD=1: this package never builds
// Kubernetes).
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	clusterOnce.Do(func() {
		if os.Geteuid() != 0 {
			clErr = fmt.Errorf("needs root (ip netns)")
			return
		}
		var err error
		if root, err = testenv.RepoRoot(); err != nil {
			clErr = err
			return
		}
		if bins, err = cluster.Binaries(root, true, nil); err != nil {
			clErr = fmt.Errorf("%v: the Kubernetes binaries are not cached", err)
			return
		}
		cl, clErr = cluster.Start(context.Background(), cluster.Config{
			Bins: bins, Keep: os.Getenv("VA_E2E_KEEP") == "1", Logf: log.Printf,
		})
	})
	if clErr != nil {
		t.Fatalf("cluster: %v", clErr)
	}
	return cl
}

// TestAgentRunsVoiceAssist is the node agent end to end on the real control
// plane: register a Node; apply the base's Namespace, Secret, Services,
// StatefulSets (Redis and PostgreSQL from Debian's binaries, their claims
// bound by the agent's provisioner) and the three Deployments; every pod
// must become Ready from its own probes on an IP of the node's podCIDR,
// the server's /ready must pass (so Service names in its env reached Redis
// and PostgreSQL), a deleted pod must get SIGTERM and leave, a crashing
// container must restart with back-off, /metrics/resource must report each
// container, and the real metrics-server must serve PodMetrics from it.
func TestAgentRunsVoiceAssist(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	agent, err := StartForCluster(ctx, c, root, t.Logf, func(a *Agent) { a.RestartBackoff = time.Second })
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			agent.Stop()
		}
	}()
	t.Logf("agent started in %.1fs", time.Since(t0).Seconds())

	// --- the Node ---
	node, err := cs.CoreV1().Nodes().Get(ctx, "va-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nodeReady(node) {
		t.Errorf("node not Ready: %+v", node.Status.Conditions)
	}
	if node.Spec.PodCIDR == "" || node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 ||
		len(node.Status.Addresses) == 0 || node.Status.Addresses[0].Address != "10.243.0.2" {
		t.Errorf("node: podCIDR %q, kubelet port %d, addresses %v", node.Spec.PodCIDR, node.Status.DaemonEndpoints.KubeletEndpoint.Port, node.Status.Addresses)
	}
	_, podNet, _ := net.ParseCIDR(node.Spec.PodCIDR)
	lease, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "va-node-1", metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime == nil {
		t.Errorf("node lease: %v %v", lease, err)
	}
	// The node controller removes the not-ready taint once it sees Ready.
	waitFor(ctx, t, "node without the not-ready taint", func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "va-node-1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == "node.kubernetes.io/not-ready" {
				return false, nil
			}
		}
		return true, nil
	})

	// --- the workload ---
	applyBase(ctx, t, cs)
	waitFor(ctx, t, "every voiceassist pod Ready", func(ctx context.Context) (bool, error) {
		return podsReady(ctx, cs, map[string]int{
			"voiceassist-server": 1, "voiceassist-worker": 1, "queue-exporter": 1,
			"voiceassist-redis": 1, "voiceassist-postgres": 1,
		})
	})
	t.Logf("all pods Ready %.1fs after the agent started", time.Since(t0).Seconds())
	pods, _ := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{})
	ips := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		ip := net.ParseIP(p.Status.PodIP)
		if ip == nil || !podNet.Contains(ip) {
			t.Errorf("pod %s: IP %q not in the node's podCIDR %s", p.Name, p.Status.PodIP, podNet)
		}
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s share IP %s", p.Name, other, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = p.Name
		if p.Status.HostIP != "10.243.0.2" || p.Status.Phase != corev1.PodRunning || p.Status.StartTime == nil {
			t.Errorf("pod %s: hostIP %q phase %s startTime %v", p.Name, p.Status.HostIP, p.Status.Phase, p.Status.StartTime)
		}
		for _, st := range p.Status.ContainerStatuses {
			if !st.Ready || st.State.Running == nil || st.Started == nil || !*st.Started || st.ContainerID == "" {
				t.Errorf("pod %s container %s: %+v", p.Name, st.Name, st)
			}
		}
		for _, want := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			if !podCond(&p, want) {
				t.Errorf("pod %s: condition %s not True", p.Name, want)
			}
		}
	}
	// The Services' EndpointSlices (made by the real endpointslice
	// controller from our pod status) hold the pod IPs.
	for _, svc := range []string{"voiceassist-server", "voiceassist-redis", "voiceassist-postgres"} {
		sl, _ := cs.DiscoveryV1().EndpointSlices("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		n := 0
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				if _, ok := ips[e.Addresses[0]]; ok && e.Conditions.Ready != nil && *e.Conditions.Ready {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("Service %s: %d ready endpoints on pod IPs, want 1", svc, n)
		}
	}
	// The server's /ready checks PostgreSQL and Redis for real.
	server := podOf(ctx, t, cs, "voiceassist-server")
	hc := &http.Client{Transport: &http.Transport{DialContext: c.Netns.DialContext}, Timeout: 5 * time.Second}
	if body, code := get(hc, "http://"+server.Status.PodIP+":8000/ready"); code != 200 {
		t.Errorf("server /ready: %d %s", code, body)
	}

	// --- /metrics/resource, then the real metrics-server ---
	kc := &http.Client{Transport: &http.Transport{DialContext: c.Netns.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	body, code := get(kc, "https://10.243.0.2:10250/metrics/resource")
	if code != 200 {
		t.Fatalf("/metrics/resource: %d %s", code, body)
	}
	checkResourceMetrics(t, body, pods.Items)
	checkCgroups(ctx, t, cs, agent, pods.Items)
	if err := StartMetricsServer(ctx, c, bins[cluster.MetricsServer]); err != nil {
		t.Fatal(err)
	}

	// --- a crashing container restarts with back-off ---
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crasher", Namespace: "voiceassist"},
		Spec: corev1.PodSpec{
			SecurityContext: restrictedPod(),
			Containers: []corev1.Container{{
				Name: "exporter", Image: "voiceassist/queue-exporter:0.1.0",
				Args:            []string{"--log-level=nonsense"},
				SecurityContext: restrictedContainer(),
				Resources:       smallResources(),
			}},
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
		},
	}
	if _, err := cs.CoreV1().Pods("voiceassist").Create(ctx, crash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "crasher restarted twice", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods("voiceassist").Get(ctx, "crasher", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		st := p.Status.ContainerStatuses[0]
		return st.RestartCount >= 2 && st.LastTerminationState.Terminated != nil &&
			st.LastTerminationState.Terminated.ExitCode != 0 && !st.Ready, nil
	})
	cs.CoreV1().Pods("voiceassist").Delete(ctx, "crasher", metav1.DeleteOptions{})

	// --- graceful deletion: SIGTERM, grace period, then gone ---
	pid := agent.Pids()["voiceassist/"+server.Name]["server"]
	if pid == 0 {
		t.Fatalf("no pid for %s: %v", server.Name, agent.Pids())
	}
	t1 := time.Now()
	if err := cs.CoreV1().Pods("voiceassist").Delete(ctx, server.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "deleted server pod gone from the API", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods("voiceassist").Get(ctx, server.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	took := time.Since(t1)
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("server pid %d still runs after its pod was deleted", pid)
	}
	// The server keeps serving its 5 s pre-stop delay after SIGTERM, then
	// exits by itself well within the 30 s grace period.
	if took < 4*time.Second || took > 25*time.Second {
		t.Errorf("deletion took %s: want the server's own graceful shutdown (≈5 s), not a kill", took)
	}
	t.Logf("server pod deleted in %.1fs", took.Seconds())
	waitFor(ctx, t, "the Deployment's replacement server Ready", func(ctx context.Context) (bool, error) {
		return podsReady(ctx, cs, map[string]int{"voiceassist-server": 1})
	})

	// metrics-server serves PodMetrics from our endpoint.
	waitPodMetrics(ctx, t, cs)

	// --- agent shutdown stops every process ---
	pidsBefore := agent.Pids()
	agent.Stop()
	stopped = true
	for pod, ctrs := range pidsBefore {
		for name, pid := range ctrs {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("%s/%s (pid %d) still runs after Stop", pod, name, pid)
			}
		}
	}
	for _, ctrl := range cgroupControllers {
		if _, err := os.Stat(agent.cgroups.dir(ctrl)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the agent's %s cgroup %s is still there after Stop (%v)", ctrl, agent.cgroups.dir(ctrl), err)
		}
		if _, err := os.Stat(filepath.Dir(agent.cgroups.dir(ctrl))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the process's %s cgroup %s is still there after its only agent stopped (%v)", ctrl, filepath.Dir(agent.cgroups.dir(ctrl)), err)
		}
	}
	cs.CoreV1().Namespaces().Delete(context.Background(), "voiceassist", metav1.DeleteOptions{})
	cs.CoreV1().Nodes().Delete(context.Background(), "va-node-1", metav1.DeleteOptions{})
}

// checkCgroups: every container's process is in a cgroup of its own under
// the agent's, with the kubelet's settings for its resources; the
// kubelet's /metrics/cadvisor, through kube-apiserver's node proxy (as
// Prometheus' kubelet job reaches it), reports each memory limit and the
// CFS counters; `kubectl logs` reaches the agent through kube-apiserver too.
func checkCgroups(ctx context.Context, t *testing.T, cs kubernetes.Interface, agent *Agent, pods []corev1.Pod) {
	t.Helper()
	pids := agent.Pids()
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			pid := pids[p.Namespace+"/"+p.Name][c.Name]
			if pid == 0 {
				t.Errorf("%s/%s: no process", p.Name, c.Name)
				continue
			}
			own, err := cgroup1.ParseCgroupFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			if err != nil {
				t.Fatal(err)
			}
			read := func(ctrl cgroup1.Name, file string) string {
				want := fmt.Sprintf("/voiceassist-e2e-%d/%s/%s/%s-", os.Getpid(), agent.NodeName, p.UID, c.Name)
				if !strings.Contains(own[string(ctrl)], want) {
					t.Errorf("%s/%s (pid %d): %s cgroup %q, want one under …%s", p.Name, c.Name, pid, ctrl, own[string(ctrl)], want)
				}
				b, err := os.ReadFile(filepath.Join(cgroupRoot, string(ctrl), own[string(ctrl)], file))
				if err != nil {
					t.Errorf("%s/%s: %v", p.Name, c.Name, err)
				}
				return strings.TrimSpace(string(b))
			}
			lim, req := c.Resources.Limits, c.Resources.Requests
			wantMem := strconv.FormatInt(lim.Memory().Value(), 10)
			wantQuota := strconv.FormatInt(milliCPUToQuota(lim.Cpu().MilliValue(), quotaPeriod), 10)
			wantShares := strconv.FormatUint(milliCPUToShares(req.Cpu().MilliValue()), 10)
			if got := read(cgroup1.Memory, "memory.limit_in_bytes"); got != wantMem {
				t.Errorf("%s/%s: memory.limit_in_bytes %s, want %s (limits.memory %s)", p.Name, c.Name, got, wantMem, lim.Memory())
			}
			if got := read(cgroup1.Cpu, "cpu.cfs_quota_us"); got != wantQuota {
				t.Errorf("%s/%s: cpu.cfs_quota_us %s, want %s (limits.cpu %s)", p.Name, c.Name, got, wantQuota, lim.Cpu())
			}
			if got := read(cgroup1.Cpu, "cpu.cfs_period_us"); got != "100000" {
				t.Errorf("%s/%s: cpu.cfs_period_us %s, want 100000", p.Name, c.Name, got)
			}
			if got := read(cgroup1.Cpu, "cpu.shares"); got != wantShares {
				t.Errorf("%s/%s: cpu.shares %s, want %s (requests.cpu %s)", p.Name, c.Name, got, wantShares, req.Cpu())
			}
			read(cgroup1.Cpuacct, "cpuacct.usage")
		}
	}

	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/va-node-1/proxy/metrics/cadvisor").DoRaw(ctx)
	if err != nil {
		t.Fatalf("/metrics/cadvisor through kube-apiserver: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("/metrics/cadvisor does not parse: %v\n%s", err, truncate(string(raw), 2000))
	}
	series := func(name, pod, ctr string) (float64, bool) {
		for _, m := range fams[name].GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["pod"] == pod && l["container"] == ctr && l["namespace"] == "voiceassist" {
				if m.Counter != nil {
					return m.Counter.GetValue(), true
				}
				return m.Gauge.GetValue(), true
			}
		}
		return 0, false
	}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if v, ok := series("container_spec_memory_limit_bytes", p.Name, c.Name); !ok || int64(v) != c.Resources.Limits.Memory().Value() {
				t.Errorf("/metrics/cadvisor: container_spec_memory_limit_bytes of %s/%s = %v (%v), want %d", p.Name, c.Name, v, ok, c.Resources.Limits.Memory().Value())
			}
			if v, ok := series("container_memory_working_set_bytes", p.Name, c.Name); !ok || v <= 0 {
				t.Errorf("/metrics/cadvisor: container_memory_working_set_bytes of %s/%s = %v (%v), want > 0", p.Name, c.Name, v, ok)
			}
			for _, name := range []string{"container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_throttled_seconds_total"} {
				if _, ok := series(name, p.Name, c.Name); !ok {
					t.Errorf("/metrics/cadvisor: no %s for %s/%s (CPU limit %s)", name, p.Name, c.Name, c.Resources.Limits.Cpu())
				}
			}
		}
	}
	// kubectl logs: kube-apiserver → the agent's /containerLogs.
	server := podOf(ctx, t, cs, "voiceassist-server")
	logs, err := cs.CoreV1().Pods("voiceassist").GetLogs(server.Name, &corev1.PodLogOptions{Container: "server"}).DoRaw(ctx)
	if err != nil || len(logs) == 0 {
		t.Errorf("logs of %s through kube-apiserver: %v (%d bytes)", server.Name, err, len(logs))
	}
}

func restrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }

func smallResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("50m"), corev1.ResourceMemory: mustQ("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQ("200m"), corev1.ResourceMemory: mustQ("256Mi")},
	}
}

// applyBase creates the workload of k8s/performance/base as stored: the
// Namespace, the LimitRange and ResourceQuota, the Services, the
// StatefulSets and the Deployments (one replica each: no HPA acts here),
// plus the Secrets they read (PostgreSQL's, Redis's, the API keys).
func applyBase(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	var objs []runtime.Object
	for _, f := range []string{"namespace.yaml", "resource-limits.yaml", "services.yaml", "queue-exporter.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "k8s/performance/base", f))
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			o, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, o)
		}
	}
	create := func(what string, err error) {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %s: %v", what, err)
		}
	}
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok {
			_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			create("namespace", err)
		}
	}
	// The Secrets the manifests read, made as vactl setup --create-secrets
	// makes them (the Redis ACL and the gateway's key hashes derived).
	va := &vacluster.Client{Kube: cs}
	for _, ref := range []vacluster.SecretRef{
		{Namespace: "voiceassist", Name: "voiceassist-postgres-credentials", Keys: []string{"password"}},
		{Namespace: "voiceassist", Name: vacluster.RedisSecret},
		{Namespace: "voiceassist", Name: vacluster.APIKeysSecret},
	} {
		create("secret "+ref.Name, va.CreateSecret(ctx, ref))
	}
	// kubectl apply -k's order (kustomize's): Services before the
	// workloads, so a pod's Service names resolve when it starts.
	sort.SliceStable(objs, func(i, j int) bool {
		_, si := objs[i].(*corev1.Service)
		_, sj := objs[j].(*corev1.Service)
		return si && !sj
	})
	for _, o := range objs {
		var err error
		var name string
		switch v := o.(type) {
		case *corev1.Service:
			name = "service " + v.Name
			_, err = cs.CoreV1().Services(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		case *corev1.LimitRange:
			name = "limitrange " + v.Name
			_, err = cs.CoreV1().LimitRanges(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		case *corev1.ResourceQuota:
			name = "resourcequota " + v.Name
			_, err = cs.CoreV1().ResourceQuotas(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		case *appsv1.StatefulSet:
			name = "statefulset " + v.Name
			_, err = cs.AppsV1().StatefulSets(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		case *appsv1.Deployment:
			name = "deployment " + v.Name
			_, err = cs.AppsV1().Deployments(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		}
		create(name, err)
	}
}

func podsReady(ctx context.Context, cs kubernetes.Interface, want map[string]int) (bool, error) {
	pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	got := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podCond(&p, corev1.PodReady) {
			got[p.Labels["app"]]++
		}
	}
	for app, n := range want {
		if got[app] != n {
			return false, nil
		}
	}
	return true, nil
}

func podOf(ctx context.Context, t *testing.T, cs kubernetes.Interface, app string) *corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return &p
		}
	}
	t.Fatalf("no %s pod", app)
	return nil
}

func podCond(p *corev1.Pod, typ corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitFor polls cond every 500 ms; on timeout it fails the test with the
// voiceassist pods' state, which is what explains a wait that never ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	var last error
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s (%.0fs): %v (last error %v)\n%s", what, time.Since(start).Seconds(), err, last, describePods())
	}
}

func describePods() string {
	if cl == nil {
		return ""
	}
	cs, _ := cl.Clientset()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "  %s/%s node=%q phase=%s ip=%s", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP)
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, " %s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message)
			}
		}
		for _, s := range p.Status.ContainerStatuses {
			st, _ := json.Marshal(s.State)
			fmt.Fprintf(&b, "\n    %s ready=%v restarts=%d %s", s.Name, s.Ready, s.RestartCount, st)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func get(c *http.Client, url string) (string, int) {
	resp, err := c.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// checkResourceMetrics: every running container of pods has a CPU and a
// memory sample with a timestamp, and both are positive.
func checkResourceMetrics(t *testing.T, body string, pods []corev1.Pod) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics/resource does not parse: %v\n%s", err, body)
	}
	type key struct{ ns, pod, c string }
	cpu, mem := map[key]float64{}, map[key]float64{}
	for name, dst := range map[string]map[key]float64{"container_cpu_usage_seconds_total": cpu, "container_memory_working_set_bytes": mem} {
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s in\n%s", name, body)
		}
		for _, m := range f.Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if m.GetTimestampMs() == 0 {
				t.Errorf("%s%v has no timestamp", name, l)
			}
			dst[key{l["namespace"], l["pod"], l["container"]}] = v
		}
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			k := key{p.Namespace, p.Name, c.Name}
			if cpu[k] <= 0 || mem[k] <= 0 {
				t.Errorf("%v: cpu %v s, memory %v bytes; want both > 0", k, cpu[k], mem[k])
			}
		}
	}
	if fams["node_cpu_usage_seconds_total"] == nil || fams["node_memory_working_set_bytes"] == nil {
		t.Errorf("no node metrics in\n%s", body)
	}
}

// waitPodMetrics waits until metrics.k8s.io, through kube-apiserver's
// aggregation layer and the real metrics-server, serves CPU and memory for
// the five voiceassist pods, and NodeMetrics for the node.
func waitPodMetrics(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	rest := cs.Discovery().RESTClient()
	start := time.Now()
	var last string
	type podMetrics struct {
		Items []struct {
			Metadata   metav1.ObjectMeta `json:"metadata"`
			Containers []struct {
				Name  string            `json:"name"`
				Usage map[string]string `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := rest.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/voiceassist/pods").DoRaw(ctx)
		if err != nil {
			last = err.Error() + " " + string(b)
			return false, nil
		}
		var pm podMetrics
		if err := json.Unmarshal(b, &pm); err != nil {
			last = err.Error()
			return false, nil
		}
		last = string(b)
		apps := map[string]bool{}
		for _, it := range pm.Items {
			for _, ctr := range it.Containers {
				if it.Metadata.Labels["app"] != "" && ctr.Usage["cpu"] != "" && ctr.Usage["memory"] != "" && ctr.Usage["memory"] != "0" {
					apps[it.Metadata.Labels["app"]] = true
				}
			}
		}
		return len(apps) >= 5, nil
	})
	if err != nil {
		t.Fatalf("PodMetrics through kube-apiserver → metrics-server → node agent after %.0fs: %v; last answer: %s",
			time.Since(start).Seconds(), err, last)
	}
	t.Logf("metrics.k8s.io PodMetrics served for the voiceassist pods (%.0fs): %s", time.Since(start).Seconds(), truncate(last, 600))
	b, err := rest.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/va-node-1").DoRaw(ctx)
	if err != nil {
		t.Errorf("NodeMetrics: %v %s", err, b)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
