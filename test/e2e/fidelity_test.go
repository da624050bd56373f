//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/fidelity"
	"github.com/voiceassist/autoscaling/internal/loadtest"
)

// TestFidelity measures how well `vactl simulate` predicts the cluster:
//
//  1. `vactl loadtest worker --burst 700` (1 s WAVs; every job takes 3 s
//     more, the scaling overlay's --simulate-work) against the scaling
//     overlay, workers 1–4, from a steady start at 1, with a cool-down long
//     enough for the workers to come back to 1; its JSON report has the
//     HPA's replicas second by second;
//  2. meanwhile the worker pods' start-up is measured from their own
//     timestamps: creation → container started (Pending) → Ready;
//  3. `vactl simulate -f <the objects deployed> --params <file> --against
//     <report>` replays the jobs the loadtest got accepted, second by
//     second, through the simulator with main's parameters plus what this
//     cluster and workload are (fidelityParams);
//  4. it must agree: every measured scale event of the worker HPA matched
//     by a simulated one within one HPA sync period (15 s), no simulated
//     event without a measured one, and the same peak replicas (exit 0).
func TestFidelity(t *testing.T) {
	ctx := scenario(t, 25*time.Minute)
	bin := vactlBinary(t)
	r := scalingOverlay(t)
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-worker", workerMin)
	waitHPASteady(ctx, t, "voiceassist-worker-hpa", workerMin)

	dir := t.TempDir()
	t.Cleanup(func() { // registered after TempDir's removal, so it runs first
		if !t.Failed() {
			return
		}
		keep, err := os.MkdirTemp("", "va-e2e-fidelity-")
		if err != nil {
			return
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				os.WriteFile(filepath.Join(keep, e.Name()), b, 0o644)
			}
		}
		t.Logf("report, parameters and objects kept in %s", keep)
	})
	reportFile := filepath.Join(dir, "burst.json")
	starts := watchPodStarts(ctx, t, r, "voiceassist-worker")
	// The cool-down: the burst keeps the workers busy for minutes after it
	// is submitted, and the way back from 4 to 1 is the 60 s window plus
	// three 60 s periods; --cooldown ends early once the HPAs are at min.
	args := []string{"loadtest", "worker", "--kubeconfig", cl.AdminKubeconfig, "--via", "endpoints",
		"--burst", "700", "--mix", "1s", "--sample-rate", "16000", "--cooldown", "10m", "--record=false", "-o", "json"}
	rep, raw := runLoadtest(t, bin, args)
	starts.stop()
	if err := os.WriteFile(reportFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep.Jobs == nil || rep.Jobs.Done < 690 {
		t.Fatalf("jobs %+v: want the burst of 700 worked off", rep.Jobs)
	}

	params := fidelityParams(t, r, rep, starts)
	paramsFile := filepath.Join(dir, "e2e-params.yaml")
	if err := os.WriteFile(paramsFile, params, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("parameters (%s):\n%s", paramsFile, params)
	objsFile := filepath.Join(dir, "deployed.yaml")
	writeObjects(t, objsFile, r)

	simArgs := []string{"simulate", "-f", objsFile, "--env", "dev", "--params", paramsFile, "--against", reportFile}
	text, code := runVactl(t, bin, simArgs...)
	t.Logf("vactl %s: exit %d\n%s", strings.Join(simArgs, " "), code, text)
	out, _ := runVactl(t, bin, append(simArgs, "-o", "json")...)
	var ag struct {
		Agree bool                 `json:"agree"`
		HPAs  []fidelity.Agreement `json:"hpas"`
	}
	if err := json.Unmarshal([]byte(out), &ag); err != nil {
		t.Fatalf("simulate --against -o json: %v\n%s", err, out)
	}
	if len(ag.HPAs) != 1 || ag.HPAs[0].HPA != "voiceassist-worker-hpa" {
		t.Fatalf("compared %+v: want the worker HPA alone (a worker burst)", ag.HPAs)
	}
	a := ag.HPAs[0]
	if len(a.Matches)+len(a.Unmatched) < 2 || a.MeasuredPeak <= workerMin {
		t.Errorf("measured %d scale events, peak %d: the burst must scale the workers up and back down", len(a.Matches)+len(a.Unmatched), a.MeasuredPeak)
	}
	if !ag.Agree || code != 0 {
		t.Errorf("simulation and cluster disagree (exit %d): %d measured events unmatched, %d simulated extra, peaks %d/%d",
			code, len(a.Unmatched), len(a.Extra), a.MeasuredPeak, a.SimulatedPeak)
	}
}

// runLoadtest runs vactl loadtest in the cluster's namespace and decodes
// its -o json report.
func runLoadtest(t *testing.T, bin string, args []string) (*loadtest.Report, []byte) {
	t.Helper()
	cmd := cl.Netns.Command(append([]string{bin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("vactl loadtest: %v", err)
	}
	t.Logf("vactl %s: exit %d in %s; progress:\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Second), head(stderr.String(), 40))
	var rep loadtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON (exit %d): %v\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	var text bytes.Buffer
	if err := loadtest.WriteText(&text, &rep); err == nil {
		t.Logf("report:\n%s", text.String())
	}
	return &rep, stdout.Bytes()
}

// runVactl runs a vactl command that needs no cluster and returns its
// stdout (and stderr) and exit code.
func runVactl(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String() + stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("vactl %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String() + stderr.String(), 0
}

// writeObjects writes the objects the scenario deployed (the scaling
// overlay as applied) as one YAML stream.
func writeObjects(t *testing.T, path string, r rendered) {
	t.Helper()
	var b bytes.Buffer
	for _, u := range r.objs {
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// --- pod start-up ----------------------------------------------------------

type podStart struct {
	created, running, ready time.Time
}

// podStarts records the start-up of the pods of a Deployment created while
// it watches: polled every second, timed by the pods' own timestamps.
type podStarts struct {
	mu     sync.Mutex
	pods   map[types.UID]*podStart
	before map[types.UID]bool
	done   chan struct{}
	wg     sync.WaitGroup
}

func watchPodStarts(ctx context.Context, t *testing.T, r rendered, deployment string) *podStarts {
	t.Helper()
	d := findObj(t, r.objs, "Deployment", "voiceassist", deployment)
	sel, _, err := unstructuredLabels(d.Object)
	if err != nil {
		t.Fatal(err)
	}
	w := &podStarts{pods: map[types.UID]*podStart{}, before: map[types.UID]bool{}, done: make(chan struct{})}
	list := func() []corev1.Pod {
		pl, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil
		}
		return pl.Items
	}
	for _, p := range list() {
		w.before[p.UID] = true
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for _, p := range list() {
				w.observe(&p)
			}
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func unstructuredLabels(obj map[string]any) (string, bool, error) {
	m, ok, err := nestedStringMap(obj, "spec", "selector", "matchLabels")
	if err != nil || !ok {
		return "", ok, fmt.Errorf("no spec.selector.matchLabels: %v", err)
	}
	return labels.SelectorFromSet(m).String(), true, nil
}

func nestedStringMap(obj map[string]any, path ...string) (map[string]string, bool, error) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s is not a map", p)
		}
		if cur, ok = m[p]; !ok {
			return nil, false, nil
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("%s is not a map", strings.Join(path, "."))
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out, true, nil
}

func (w *podStarts) observe(p *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.before[p.UID] {
		return
	}
	s := w.pods[p.UID]
	if s == nil {
		s = &podStart{created: p.CreationTimestamp.Time}
		w.pods[p.UID] = s
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil && s.running.IsZero() {
			s.running = c.State.Running.StartedAt.Time
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && s.ready.IsZero() {
			s.ready = c.LastTransitionTime.Time
		}
	}
}

func (w *podStarts) stop() {
	close(w.done)
	w.wg.Wait()
}

// means are the mean Pending (creation → container started) and start-up
// (container started → Ready) seconds of the pods seen through to Ready.
func (w *podStarts) means() (pending, startup float64, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.pods {
		if s.running.IsZero() || s.ready.IsZero() {
			continue
		}
		pending += s.running.Sub(s.created).Seconds()
		startup += s.ready.Sub(s.running).Seconds()
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return pending / float64(n), startup / float64(n), n
}

// --- the parameters of this cluster ----------------------------------------

// fidelityParams is the simulator parameter file for this cluster and
// workload: on top of main's defaults (the file sets only these),
//
//   - controller: kube-controller-manager's flags as test/e2e/cluster
//     starts it — --horizontal-pod-autoscaler-sync-period from
//     VA_E2E_HPA_SYNC (15 s), no --horizontal-pod-autoscaler-tolerance
//     (upstream's 0.1);
//   - worker start-up: the pods' measured Pending and Ready times;
//   - the job: the scaling overlay's --simulate-work 3s plus the analysis
//     of a 1 s clip and its database writes (tens of milliseconds), at
//     the worker's own default concurrency of 4 (the manifests set no
//     WORKER_CONCURRENCY), with hardly any spread (the time is a sleep);
//   - the worker's CPU and memory: the HPA's own utilization readings in
//     the report, idle (before the burst) and busiest, times the pod's
//     requests — a job that sleeps uses no CPU to speak of, unlike the
//     4 s of analysis at 400m the defaults assume for production; the
//     gateway's idle CPU likewise (the defaults' 50m is all of the scaling
//     overlay's pod, which the simulator refuses as leaving no capacity).
func fidelityParams(t *testing.T, r rendered, rep *loadtest.Report, starts *podStarts) []byte {
	t.Helper()
	sync := 15 * time.Second
	if s := os.Getenv("VA_E2E_HPA_SYNC"); s != "" {
		var err error
		if sync, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	pending, startup, n := starts.means()
	if n == 0 {
		t.Fatalf("no worker pod was seen from creation to Ready during the burst")
	}
	t.Logf("worker start-up measured over %d pods: %.1f s Pending, %.1f s from container start to Ready", n, pending, startup)
	cpuReq, memReq := requests(t, r, "voiceassist-worker")
	cpuIdle, cpuPeak := utilization(rep, "voiceassist-worker-hpa", "Resource/cpu")
	memIdle, memPeak := utilization(rep, "voiceassist-worker-hpa", "Resource/memory")
	gwReq := resource.MustParse(gwCPURequest) // the scaling overlay's
	gwCPU := float64(gwReq.MilliValue())
	gwIdle, _ := utilization(rep, "voiceassist-server-hpa", "Resource/cpu")
	const concurrency = 4
	p := map[string]any{
		"profile": map[string]any{
			"source":  "test/e2e TestFidelity",
			"command": "make e2e E2E_FLAGS='-run TestFidelity'",
			"notes":   "main's parameters with the e2e cluster's controller flags, measured worker start-up, and the e2e workload (--simulate-work 3s)",
		},
		"controller": map[string]any{
			"syncPeriodSeconds": int64(sync / time.Second),
			"tolerance":         0.1,
		},
		// The gateway only passes the jobs on here; its idle CPU, measured,
		// instead of the 50m the defaults assume (all of the overlay's 50m pod).
		"gateway": map[string]any{
			"idleCPU": round1(gwIdle / 100 * gwCPU),
		},
		"worker": map[string]any{
			"concurrency":    concurrency,
			"jobMeanSeconds": 3.05,
			"jobCV":          0.02,
			"idleCPU":        round1(cpuIdle / 100 * cpuReq),
			"cpuPerJob":      math.Max(1, round1((cpuPeak-cpuIdle)/100*cpuReq/concurrency)),
			"baseMemoryMi":   round1(memIdle / 100 * memReq),
			"memoryMiPerJob": math.Max(0, round1((memPeak-memIdle)/100*memReq/concurrency)),
			"pendingSeconds": round1(pending),
			"startupSeconds": round1(startup),
		},
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// requests are the first container's CPU (millicores) and memory (MiB)
// requests of a deployed Deployment.
func requests(t *testing.T, r rendered, name string) (cpu, memMi float64) {
	t.Helper()
	for _, d := range r.set.Deployments {
		if d.Name == name {
			req := d.Spec.Template.Spec.Containers[0].Resources.Requests
			return float64(req.Cpu().MilliValue()), float64(req.Memory().Value()) / (1 << 20)
		}
	}
	t.Fatalf("no Deployment %s", name)
	return 0, 0
}

// utilization is an HPA Resource metric's first known reading (idle, before
// the load) and its highest, in percent of the request.
func utilization(rep *loadtest.Report, hpa, key string) (first, peak float64) {
	seen := false
	for _, s := range rep.Timeline {
		if s.Cluster == nil {
			continue
		}
		for _, h := range s.Cluster.HPAs {
			if h.Name != hpa {
				continue
			}
			for _, m := range h.Metrics {
				if m.Key == key && m.Known {
					if !seen {
						first, seen = m.Current, true
					}
					peak = math.Max(peak, m.Current)
				}
			}
		}
	}
	return first, peak
}

// --- port-forward ------------------------------------------------------------

// TestLoadtestPortForward exercises the node agent's port-forward endpoint
// through the API server, as a user outside the cluster's network would:
//
//   - `kubectl port-forward pod/<gateway> :<port>` (kubectl v1.34.4, over
//     WebSockets through kube-apiserver to the node's /portForward) serves
//     the gateway's /health on the local port it prints;
//   - `vactl loadtest api --via port-forward` (client-go's portforward to
//     every ready pod of the Service) runs a constant 5 req/s for 30 s of
//     real analyses; every request is accounted for and the report's
//     achieved rate is above 0.
func TestLoadtestPortForward(t *testing.T) {
	ctx := scenario(t, 10*time.Minute)
	bin := vactlBinary(t)
	r := scalingOverlay(t)
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", gwMin)

	t.Run("kubectl", func(t *testing.T) {
		kubectl := bins["kubectl"]
		if kubectl == "" {
			t.Fatal("hack/e2e/build.sh built no kubectl")
		}
		pod, port := gatewayPod(ctx, t)
		cmd := cl.Netns.Command(kubectl, "--kubeconfig", cl.AdminKubeconfig, "-n", "voiceassist", "port-forward", "pod/"+pod, fmt.Sprintf(":%d", port))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		local := make(chan string, 1)
		go func() {
			re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					local <- m[1]
				}
			}
			close(local)
		}()
		var lp string
		select {
		case lp = <-local:
		case <-time.After(30 * time.Second):
		}
		if lp == "" {
			t.Fatalf("kubectl port-forward pod/%s :%d printed no local port: %s", pod, port, stderr.String())
		}
		hc := podClient(10 * time.Second)
		for i := 0; i < 3; i++ { // three connections over one forward
			res, err := hc.Get("http://127.0.0.1:" + lp + "/health")
			if err != nil {
				t.Fatalf("GET /health through kubectl port-forward: %v (kubectl: %s)", err, stderr.String())
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("GET /health through kubectl port-forward: %d %s", res.StatusCode, body)
			}
			hc.CloseIdleConnections()
		}
		t.Logf("kubectl port-forward pod/%s 127.0.0.1:%s -> %d: /health 200, three connections", pod, lp, port)
	})

	t.Run("vactl", func(t *testing.T) {
		args := []string{"loadtest", "api", "--kubeconfig", cl.AdminKubeconfig, "--via", "port-forward",
			"--profile", "constant", "--rate", "5", "--duration", "30s", "--mix", "1s", "--sample-rate", "16000",
			"--cooldown", "0", "--record=false", "-o", "json"}
		rep, _ := runLoadtest(t, bin, args)
		a := rep.API
		if a == nil {
			t.Fatal("no api traffic in the report")
		}
		accounted := a.OK
		for _, n := range a.Errors {
			accounted += n
		}
		if a.Requests < 140 || accounted != a.Requests {
			t.Errorf("%d requests, %d accounted for (errors %v): want about 150, every one answered or failed", a.Requests, accounted, a.Errors)
		}
		if a.AchievedRate <= 0 || a.OK == 0 {
			t.Errorf("achieved %.2f req/s, %d analysed (errors %v): want real analyses through the port-forwards", a.AchievedRate, a.OK, a.Errors)
		}
		if !strings.Contains(rep.Gateway, "port-forward") {
			t.Errorf("report's gateway %q: want the port-forward", rep.Gateway)
		}
		t.Logf("--via port-forward: %d requests, %d analysed, achieved %.2f req/s (%s)", a.Requests, a.OK, a.AchievedRate, rep.Gateway)
	})
}

// gatewayPod is a ready gateway pod and its container's http port.
func gatewayPod(ctx context.Context, t *testing.T) (string, int32) {
	t.Helper()
	pl, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "app=voiceassist-server"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ports := map[string]int32{}
	for _, p := range pl.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if !ready || p.DeletionTimestamp != nil {
			continue
		}
		for _, cp := range p.Spec.Containers[0].Ports {
			if cp.Name == "http" {
				names = append(names, p.Name)
				ports[p.Name] = cp.ContainerPort
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no ready gateway pod with an http port among %d", len(pl.Items))
	}
	sort.Strings(names)
	return names[0], ports[names[0]]
}
