//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voiceassist/autoscaling/internal/doctor"
)

// TestDoctorOOMKilled makes the README's "pods OOMKilled" and "pods at
// their CPU limit" real: the node agent runs every container in a cgroup
// with the kubelet's settings, so the kernel enforces the limits.
//
// The gateway's limits are lowered to 100m CPU and 48Mi memory. Analysis
// requests on one pod push it over its CFS quota: the kubelet's
// /metrics/cadvisor (through the API server's node proxy, as Prometheus'
// kubelet job scrapes it) shows container_cpu_cfs_throttled_periods_total
// rising and container_spec_memory_limit_bytes at 48Mi, and `vactl doctor`
// names the throttled container, and Prometheus (scraping the node as
// kube-prometheus-stack's kubelet job does) has the throttling alert's
// ratio over 25 %. Then one upload of
// two minutes of 48 kHz stereo (23 MB, decoded to ≈ 90 MB of samples)
// makes the server allocate past its limit: the kernel's OOM killer kills
// it, the pod's container reports lastState terminated OOMKilled with exit
// code 137 and restarts, `vactl doctor` names the pod with its evidence and
// the query that finds OOM kills (the README's events query finds none:
// checked too), and `vactl status` shows the last termination.
func TestDoctorOOMKilled(t *testing.T) {
	ctx := scenario(t, 12*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		deploy(ctx, t, r.objs, r.set) // the gateway's limits back
	})

	d := findObj(t, r.objs, "Deployment", "voiceassist", "voiceassist-server").DeepCopy()
	cts, found, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil || !found || len(cts) == 0 {
		t.Fatalf("the gateway Deployment's containers: found %v, %d, %v", found, len(cts), err)
	}
	c0 := cts[0].(map[string]any)
	// Within the LimitRange's 4× ratio, far below what a large analysis needs.
	c0["resources"] = map[string]any{
		"requests": map[string]any{"cpu": "50m", "memory": "16Mi"},
		"limits":   map[string]any{"cpu": "100m", "memory": "48Mi"},
	}
	// Without GOMEMLIMIT the server does not know its limit (a memory
	// guard sized from it would turn the upload away before the kernel
	// acts): the misconfiguration this scenario is about.
	var env []any
	for _, e := range c0["env"].([]any) {
		if e.(map[string]any)["name"] != "GOMEMLIMIT" {
			env = append(env, e)
		}
	}
	c0["env"] = env
	must(t, unstructured.SetNestedSlice(d.Object, cts, "spec", "template", "spec", "containers"))
	if _, err := apply(ctx, d, false); err != nil {
		t.Fatalf("apply the gateway with a 48Mi limit: %v", err)
	}
	pod := waitGatewayLimits(ctx, t, "48Mi")
	addr := net.JoinHostPort(pod.Status.PodIP, "8000")
	t.Logf("gateway pod %s at %s runs with limits cpu 100m, memory 48Mi", pod.Name, addr)

	// CPU throttling, as the kubelet's cAdvisor endpoint shows it.
	before := cadvisorSample(ctx, t, pod.Name)
	if before.limit != 48<<20 {
		t.Errorf("container_spec_memory_limit_bytes = %v, want %d (48Mi)", before.limit, 48<<20)
	}
	if !before.hasCFS {
		t.Fatalf("no container_cpu_cfs_periods_total for %s/server: its CPU limit has no CFS quota", pod.Name)
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Two requests at a time want far more than 100m, and stay far below
	// 48Mi (2 s of mono: 0.7 MB of samples each).
	body := testWAV(2, 44100, 1)
	client := podClient(30 * time.Second)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				req, _ := http.NewRequestWithContext(lctx, http.MethodPost, "http://"+addr+"/v1/analyze", bytes.NewReader(body))
				req.Header.Set("Content-Type", "audio/wav")
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	var after cadvisorValues
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = eventually(wctx, func(ctx context.Context) error {
		after = cadvisorSample(ctx, t, pod.Name)
		if after.throttledPeriods <= before.throttledPeriods || after.throttledSeconds <= before.throttledSeconds {
			return fmt.Errorf("throttled periods %v → %v, seconds %v → %v", before.throttledPeriods, after.throttledPeriods, before.throttledSeconds, after.throttledSeconds)
		}
		return nil
	})
	cancel()
	if err != nil {
		stopLoad()
		wg.Wait()
		t.Fatalf("the gateway at 100m under analysis load was never throttled: %v", err)
	}
	// vactl doctor names it once 10 s of periods say so, the load going on.
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	err = eventually(wctx, func(ctx context.Context) error {
		rep, _ := runDoctor(t)
		if _, ok := finding(rep, doctor.CheckPods, "Pod voiceassist/"+pod.Name,
			"container server is CPU-throttled", "100m CPU limit", "cpu request 50m, limit 100m", "CFS periods", "proxy/metrics/cadvisor"); !ok {
			return errors.New("no throttling finding yet")
		}
		return nil
	})
	cancel()
	if err != nil {
		stopLoad()
		wg.Wait()
		t.Fatalf("vactl doctor on the throttled gateway: %v", err)
	}
	// Prometheus scrapes the node's /metrics/cadvisor as a real cluster's
	// kubelet job does: the VoiceAssistContainerCPUThrottled alert's ratio
	// (its expression, without the 15 minutes' `for`) is over 25 %.
	if metrics == nil {
		t.Errorf("no Prometheus in this run: the throttling alert's query is not checked")
	} else {
		q := fmt.Sprintf(`sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="voiceassist",pod=%q,container="server"}[1m]))
  / sum by (pod) (rate(container_cpu_cfs_periods_total{namespace="voiceassist",pod=%q,container="server"}[1m])) > 0.25`, pod.Name, pod.Name)
		wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		err = eventually(wctx, func(ctx context.Context) error {
			v, err := metrics.query(ctx, q)
			if err != nil {
				return err
			}
			if len(v) == 0 {
				return errors.New("the throttled share is not over 25 % in Prometheus yet")
			}
			t.Logf("Prometheus: %s throttled in %.0f %% of its CFS periods", pod.Name, 100*v[0].Value)
			return nil
		})
		cancel()
		if err != nil {
			t.Errorf("Prometheus (kubelet job on /metrics/cadvisor): %v", err)
		}
	}
	stopLoad()
	wg.Wait()
	after = cadvisorSample(ctx, t, pod.Name)
	t.Logf("throttled: periods %v → %v of %v → %v, %.2fs → %.2fs", before.throttledPeriods, after.throttledPeriods, before.periods, after.periods, before.throttledSeconds, after.throttledSeconds)
	if after.periods <= before.periods {
		t.Errorf("container_cpu_cfs_periods_total did not rise: %v → %v", before.periods, after.periods)
	}

	// The OOM kill: one large upload.
	big := testWAV(120, 48000, 2)
	t.Logf("uploading %.1f MB of WAV to %s", float64(len(big))/1e6, pod.Name)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/analyze", bytes.NewReader(big))
	req.Header.Set("Content-Type", "audio/wav")
	resp, err := podClient(2 * time.Minute).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Logf("upload answered %s", resp.Status) // expected: the connection dies with the server
	} else {
		t.Logf("upload: %v (the server was killed)", err)
	}
	var term *corev1.ContainerStateTerminated
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = eventually(wctx, func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods("voiceassist").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name != "server" {
				continue
			}
			term = s.LastTerminationState.Terminated
			if term == nil || s.RestartCount < 1 {
				return fmt.Errorf("server: restarts %d, lastState %+v, state %+v", s.RestartCount, s.LastTerminationState, s.State)
			}
			return nil
		}
		return errors.New("no server container status")
	})
	if err != nil {
		t.Fatalf("the gateway never terminated after the upload: %v (log %s)", err, agent.LogPath("voiceassist", pod.Name, "server"))
	}
	if term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("last termination %s exit %d, want OOMKilled 137", term.Reason, term.ExitCode)
	}

	// vactl doctor: the pod, its last state, the limit, the LimitRange
	// and quota check, and a query that works; the use against the limit
	// once metrics-server has the restarted container.
	var f doctor.Finding
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = eventually(wctx, func(ctx context.Context) error {
		rep, _ := runDoctor(t)
		var ok bool
		f, ok = finding(rep, doctor.CheckPods, "Pod voiceassist/"+pod.Name,
			"container server was OOMKilled", "last terminated OOMKilled (exit 137)", "memory request 16Mi, limit 48Mi",
			"a 3Gi limit (the original README's kubectl patch example)", "LimitRange", "lastState.terminated", "% of the limit")
		if !ok {
			return errors.New("no OOMKilled finding with the use against the limit yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("vactl doctor: %v", err)
	}
	t.Logf("doctor's evidence: %s", strings.Join(f.Evidence, " | "))
	if f.Severity != doctor.Warning {
		t.Errorf("severity %s, want warning", f.Severity)
	}
	// The query doctor gives finds the kill; the README's finds nothing.
	var query string
	for _, c := range f.Confirm {
		if strings.Contains(c, "lastState.terminated.reason") {
			query = c
		}
	}
	if query == "" {
		t.Fatalf("no working OOM query in %q", f.Confirm)
	}
	if out := shellKubectl(t, query); !strings.Contains(out, pod.Name) || !strings.Contains(out, "server=OOMKilled@") {
		t.Errorf("doctor's query %s:\n%s\nwant %s with server=OOMKilled@…", query, out, pod.Name)
	}
	if out := shellKubectl(t, "kubectl get events -n voiceassist --field-selector reason=OOMKilled -o name"); strings.TrimSpace(out) != "" {
		t.Errorf("the README's events query found %q; doctor says it finds nothing", out)
	}

	// vactl status: the pod's last termination.
	st := statusJSON(t, newVactlRunner(t), cl.AdminKubeconfig)
	var seen bool
	for _, p := range st.Pods.Items {
		if p.Name != pod.Name {
			continue
		}
		seen = true
		if lt := p.LastTermination; lt == nil || lt.Reason != "OOMKilled" || lt.ExitCode != 137 || lt.Container != "server" || p.Restarts < 1 {
			t.Errorf("status of %s: restarts %d, last termination %+v, want server OOMKilled 137", p.Name, p.Restarts, lt)
		}
	}
	if !seen {
		t.Errorf("pod %s not in vactl status", pod.Name)
	}
}

// waitGatewayLimits waits until every gateway pod runs with the memory
// limit (the rollout done, none terminating) and returns a Ready one.
func waitGatewayLimits(ctx context.Context, t *testing.T, limit string) *corev1.Pod {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	var ready *corev1.Pod
	err := eventually(wctx, func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "app=voiceassist-server"})
		if err != nil {
			return err
		}
		ready = nil
		for i := range pods.Items {
			p := &pods.Items[i]
			if got := p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; got.String() != limit || p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s: limit %s, terminating %v", p.Name, got.String(), p.DeletionTimestamp != nil)
			}
			if c := podCondition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue && ready == nil {
				ready = p
			}
		}
		if ready == nil {
			return errors.New("no ready gateway pod")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

// cadvisorValues is one scrape of the server container's series.
type cadvisorValues struct {
	periods, throttledPeriods, throttledSeconds, limit float64
	hasCFS                                             bool
}

// cadvisorSample scrapes the node's /metrics/cadvisor through the API
// server's node proxy and returns pod's server container's series.
func cadvisorSample(ctx context.Context, t *testing.T, pod string) cadvisorValues {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", agent.NodeName, "proxy/metrics/cadvisor").DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET /api/v1/nodes/%s/proxy/metrics/cadvisor: %v", agent.NodeName, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("/metrics/cadvisor: %v", err)
	}
	var v cadvisorValues
	get := func(name string) (float64, bool) {
		for _, m := range fams[name].GetMetric() {
			if label(m, "namespace") == "voiceassist" && label(m, "pod") == pod && label(m, "container") == "server" {
				if m.Counter != nil {
					return m.Counter.GetValue(), true
				}
				return m.Gauge.GetValue(), true
			}
		}
		return 0, false
	}
	v.periods, v.hasCFS = get("container_cpu_cfs_periods_total")
	v.throttledPeriods, _ = get("container_cpu_cfs_throttled_periods_total")
	v.throttledSeconds, _ = get("container_cpu_cfs_throttled_seconds_total")
	v.limit, _ = get("container_spec_memory_limit_bytes")
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// shellKubectl runs a kubectl command line as an operator pastes it (sh,
// kubectl v1.34.4 on PATH, the admin kubeconfig) in the cluster's network
// namespace.
func shellKubectl(t *testing.T, line string) string {
	t.Helper()
	dir := t.TempDir() // the cached binary is kubectl-<version>: "kubectl" on PATH
	if err := os.Symlink(bins["kubectl"], filepath.Join(dir, "kubectl")); err != nil {
		t.Fatal(err)
	}
	cmd := cl.Netns.Command("sh", "-c", line)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cl.AdminKubeconfig, "PATH="+dir+":"+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v: %s", line, err, errb.String())
	}
	return out.String()
}
