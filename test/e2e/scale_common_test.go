//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// The scaling scenarios run the dev overlay with a test overlay on top
// (scalingOverlay). Every HPA target, metric and scale-up policy stays the
// product's; what changes, and why:
//
//   - gateway HPA bounds 3–7 (dev 1–3): room to scale by more than 2, and
//     a start at 3 pods, where Percent 100 % would allow +3 but Pods 2 only
//     +2, so the first step already shows that `selectPolicy: Min` binds;
//   - gateway CPU request 50m, limit 200m (dev 250m/1000m, ÷5): 70 % of
//     50m is 35m per pod, so a load of about 0.35 core, which this 2-core
//     machine can give beside the control plane, asks for 10 pods;
//   - worker HPA bounds 1–4 (dev 1–2): room for two 50 % steps;
//   - worker SIMULATE_WORK (--simulate-work) 3s: every job takes 3 s more,
//     so a burst of a few hundred jobs keeps a queue for minutes;
//   - scale-down stabilization windows and policy periods divided by
//     timeFactor (VA_E2E_TIME_FACTOR, default 10): gateway 300 s → 30 s
//     window, 1 pod per 30 s; worker 600 s → 60 s window, 10 % per 60 s.
const (
	gwMin, gwMax         = 3, 7
	gwCPURequest         = "50m"
	gwCPULimit           = "200m"
	workerMin, workerMax = 1, 4
	workerSimulate       = "3s"
)

// timeFactor divides the scale-down windows and periods (VA_E2E_TIME_FACTOR).
func timeFactor(t *testing.T) int {
	t.Helper()
	f, err := envInt("VA_E2E_TIME_FACTOR", 10)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// scalingOverlay renders dev and applies the test overlay above to it, in
// memory, before anything is sent.
func scalingOverlay(t *testing.T) rendered {
	t.Helper()
	return scalingOverlayFactor(t, timeFactor(t))
}

// scalingOverlayFactor is scalingOverlay with the scale-down windows and
// periods divided by factor instead: only for scenarios that assert no
// scale-down timing of the manifests (TestScaleGateway and TestScaleWorker
// assert it, at timeFactor).
func scalingOverlayFactor(t *testing.T, factor int) rendered {
	t.Helper()
	r := renderEnv(t, "dev")
	f := int64(factor)
	hpa := func(name string, min, max int64) {
		u := findObj(t, r.objs, "HorizontalPodAutoscaler", "voiceassist", name)
		must(t, unstructured.SetNestedField(u.Object, min, "spec", "minReplicas"))
		must(t, unstructured.SetNestedField(u.Object, max, "spec", "maxReplicas"))
		down, ok, err := unstructured.NestedMap(u.Object, "spec", "behavior", "scaleDown")
		if err != nil || !ok {
			t.Fatalf("%s: no spec.behavior.scaleDown (%v)", name, err)
		}
		w, _ := down["stabilizationWindowSeconds"].(int64)
		down["stabilizationWindowSeconds"] = w / f
		pols, _ := down["policies"].([]any)
		for _, p := range pols {
			pm := p.(map[string]any)
			pm["periodSeconds"] = pm["periodSeconds"].(int64) / f
		}
		must(t, unstructured.SetNestedMap(u.Object, down, "spec", "behavior", "scaleDown"))
	}
	hpa("voiceassist-server-hpa", gwMin, gwMax)
	hpa("voiceassist-worker-hpa", workerMin, workerMax)

	container := func(name string, change func(c map[string]any)) {
		u := findObj(t, r.objs, "Deployment", "voiceassist", name)
		cs, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if err != nil || len(cs) == 0 {
			t.Fatalf("%s: no containers (%v)", name, err)
		}
		change(cs[0].(map[string]any))
		must(t, unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers"))
	}
	container("voiceassist-server", func(c map[string]any) {
		res := c["resources"].(map[string]any)
		res["requests"].(map[string]any)["cpu"] = gwCPURequest
		res["limits"].(map[string]any)["cpu"] = gwCPULimit
	})
	container("voiceassist-worker", func(c map[string]any) {
		env, _ := c["env"].([]any)
		c["env"] = append(env, map[string]any{"name": "SIMULATE_WORK", "value": workerSimulate})
	})
	return r
}

func findObj(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetNamespace() == namespace && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s/%s rendered", kind, namespace, name)
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setReplicas scales a Deployment through its scale subresource (as the
// HPA does) and waits until the pods are Ready: a known start.
func setReplicas(ctx context.Context, t *testing.T, r rendered, name string, n int32) {
	t.Helper()
	sc, err := cs.AppsV1().Deployments("voiceassist").GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != n {
		sc.Spec.Replicas = n
		if _, err := cs.AppsV1().Deployments("voiceassist").UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := r.set.Workload("Deployment", "voiceassist", name)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := waitWorkloadReady(wctx, w); err != nil {
		t.Fatalf("%s at %d replicas: %v", name, n, err)
	}
}

// --- recording replica counts ---------------------------------------------

type sample struct {
	at       time.Time
	replicas int32
}

// recorder polls a Deployment's scale (spec.replicas, what the HPA sets)
// and its HPA's status every second, until stopped.
type recorder struct {
	name, hpa string
	start     time.Time

	mu       sync.Mutex
	samples  []sample // one per change, the first one the start
	last     *autoscalingv2.HorizontalPodAutoscaler
	limited  []string // ScalingLimited status/reason changes, with time
	high     func(*autoscalingv2.HorizontalPodAutoscaler) bool
	lastHigh time.Time // when the last status in which high said the metrics asked for more pods appeared
	statuses []string  // HPA status lines, one per change
	done     chan struct{}
	stopped  chan struct{}
}

// high tells from an HPA's status whether its metrics asked for more pods
// than it has (a recommendation above the current count); the scale-down
// stabilization window runs from the last such recommendation.
func record(ctx context.Context, deployment, hpa string, high func(*autoscalingv2.HorizontalPodAutoscaler) bool) *recorder {
	r := &recorder{name: deployment, hpa: hpa, high: high, start: time.Now(), done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(r.stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			if sc, err := cs.AppsV1().Deployments("voiceassist").GetScale(ctx, deployment, metav1.GetOptions{}); err == nil {
				r.mu.Lock()
				if n := len(r.samples); n == 0 || r.samples[n-1].replicas != sc.Spec.Replicas {
					r.samples = append(r.samples, sample{time.Now(), sc.Spec.Replicas})
				}
				r.mu.Unlock()
			}
			{
				if h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, hpa, metav1.GetOptions{}); err == nil {
					line := fmt.Sprintf("current %d desired %d; %s", h.Status.CurrentReplicas, h.Status.DesiredReplicas, describeCurrentMetrics(h))
					r.mu.Lock()
					if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil {
						reason := string(c.Status) + "/" + c.Reason
						if n := len(r.limited); n == 0 || !strings.HasSuffix(r.limited[n-1], " "+reason) {
							r.limited = append(r.limited, r.since(time.Now())+" "+reason)
						}
					}
					if n := len(r.statuses); n == 0 || !strings.HasSuffix(r.statuses[n-1], line) {
						// A new status: the HPA synced about now.
						r.statuses = append(r.statuses, r.since(time.Now())+" "+line)
						if r.high(h) {
							r.lastHigh = time.Now()
						}
					}
					r.last = h
					r.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-r.done:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *recorder) since(at time.Time) string {
	return fmt.Sprintf("+%5.1fs", at.Sub(r.start).Seconds())
}

func (r *recorder) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	<-r.stopped
}

func (r *recorder) snapshot() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sample(nil), r.samples...)
}

func (r *recorder) current() int32 {
	s := r.snapshot()
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1].replicas
}

// limitedBy reports whether the HPA said ScalingLimited=True with reason
// (e.g. ScaleUpLimit: the behavior policy capped the change), and the
// condition's changes over time.
func (r *recorder) limitedBy(reason string) (bool, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := false
	for _, l := range r.limited {
		seen = seen || strings.HasSuffix(l, " True/"+reason)
	}
	return seen, append([]string(nil), r.limited...)
}

// timeline is the recorded replica counts, for logs and messages.
func (r *recorder) timeline() string {
	var b strings.Builder
	for _, s := range r.snapshot() {
		fmt.Fprintf(&b, "%s %d; ", r.since(s.at), s.replicas)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func (r *recorder) hpaLog() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "    " + strings.Join(r.statuses, "\n    ")
}

// checkStabilization asserts the scale-down stabilization window: the
// first decrease after since comes at least window after the HPA last
// wrote a status whose metrics asked for more pods (the window keeps the
// highest recommendation of its span). A status is timed by the poll that
// first saw it, within a second of the HPA's sync; slack covers that.
func checkStabilization(t *testing.T, r *recorder, since time.Time, peak int32, window, slack time.Duration) {
	t.Helper()
	r.mu.Lock()
	lastHigh := r.lastHigh
	r.mu.Unlock()
	for _, s := range r.snapshot() {
		if !s.at.After(since) || s.replicas >= peak {
			continue
		}
		if lastHigh.IsZero() {
			t.Errorf("no poll saw the metrics ask for more pods: cannot judge the stabilization window")
			return
		}
		d := s.at.Sub(lastHigh)
		if d < window-slack {
			t.Errorf("first scale-down (%d → %d at %s) %.1fs after the last recommendation above the current count (%s): the %s stabilization window was not kept",
				peak, s.replicas, r.since(s.at), d.Seconds(), r.since(lastHigh), window)
		} else {
			t.Logf("first scale-down (%d → %d at %s) %.1fs after the last recommendation above the current count (%s); stabilization window %s",
				peak, s.replicas, r.since(s.at), d.Seconds(), r.since(lastHigh), window)
		}
		return
	}
	t.Errorf("no scale-down recorded after %s", r.since(since))
}

// utilizationAbove is a recorder predicate: the HPA's Resource metric
// res has a current utilization above its target by more than the HPA's
// tolerance (10 %).
func utilizationAbove(res string) func(*autoscalingv2.HorizontalPodAutoscaler) bool {
	return func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		for i, m := range h.Spec.Metrics {
			if m.Resource == nil || string(m.Resource.Name) != res || m.Resource.Target.AverageUtilization == nil || i >= len(h.Status.CurrentMetrics) {
				continue
			}
			cur := h.Status.CurrentMetrics[i].Resource
			if cur != nil && cur.Current.AverageUtilization != nil &&
				float64(*cur.Current.AverageUtilization) > 1.1*float64(*m.Resource.Target.AverageUtilization) {
				return true
			}
		}
		return false
	}
}

// externalAbove is a recorder predicate: one of the HPA's External
// metrics is above its target by more than the tolerance (an AverageValue
// target compares the value per current pod, as the HPA does).
func externalAbove(h *autoscalingv2.HorizontalPodAutoscaler) bool {
	for i, m := range h.Spec.Metrics {
		if m.External == nil || i >= len(h.Status.CurrentMetrics) || h.Status.CurrentMetrics[i].External == nil {
			continue
		}
		cur, tgt := h.Status.CurrentMetrics[i].External.Current, m.External.Target
		switch {
		case tgt.AverageValue != nil && cur.AverageValue != nil:
			if cur.AverageValue.AsApproximateFloat64() > 1.1*tgt.AverageValue.AsApproximateFloat64() {
				return true
			}
		case tgt.Value != nil && cur.Value != nil:
			if cur.Value.AsApproximateFloat64() > 1.1*tgt.Value.AsApproximateFloat64() {
				return true
			}
		}
	}
	return false
}

// waitReplicas waits until cond holds for the current replica count.
func (r *recorder) waitReplicas(ctx context.Context, cond func(int32) bool) error {
	return eventually(ctx, func(context.Context) error {
		if n := r.current(); !cond(n) {
			return fmt.Errorf("%s at %d replicas", r.name, n)
		}
		return nil
	})
}

// checkRate asserts a behavior policy on the recorded counts: for every two
// samples less than window apart (the policy's period minus slack for the
// one-second polling and the HPA's own timing), allowed(from, to) holds.
// The HPA compares its own scale events' times with its period, so a
// change a full period after another is allowed; one sync period (15 s)
// after it is not, which a window of period minus a few seconds catches.
func checkRate(t *testing.T, r *recorder, window time.Duration, rule string, allowed func(from, to int32) bool) {
	t.Helper()
	s := r.snapshot()
	bad := 0
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].at.Sub(s[i].at) >= window {
				break
			}
			if !allowed(s[i].replicas, s[j].replicas) {
				bad++
				t.Errorf("%s went %d → %d in %.1fs (%s → %s): breaks %s", r.name, s[i].replicas, s[j].replicas,
					s[j].at.Sub(s[i].at).Seconds(), r.since(s[i].at), r.since(s[j].at), rule)
			}
		}
	}
	if bad == 0 {
		t.Logf("%s: every change within %s keeps to %s", r.name, window, rule)
	}
}

// --- HTTP load -------------------------------------------------------------

// httpLoad sends POST requests with body at a constant total rate (an open
// loop: vegeta's pacer) to a Service's ready endpoints, round-robin.
type httpLoad struct {
	attacker *vegeta.Attacker
	done     chan struct{}
	mu       sync.Mutex
	metrics  vegeta.Metrics
	codes    map[int]int
}

func startHTTPLoad(ctx context.Context, b *balancer, path string, body []byte, perSecond int, maxDuration time.Duration) *httpLoad {
	l := &httpLoad{done: make(chan struct{}), codes: map[int]int{}}
	client := podClient(30 * time.Second)
	// No vegeta.KeepAlive: it type-asserts the client's transport to *http.Transport,
	// which is wrapped to send the API key; that transport keeps alive anyway.
	l.attacker = vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(64))
	hdr := http.Header{"Content-Type": []string{"audio/wav"}}
	targeter := func(tgt *vegeta.Target) error {
		ep := b.pick()
		if ep == "" {
			ep = "127.0.0.1:1" // no ready endpoint: counted as an error
		}
		tgt.Method, tgt.URL, tgt.Body, tgt.Header = http.MethodPost, "http://"+ep+path, body, hdr
		return nil
	}
	res := l.attacker.Attack(targeter, vegeta.Rate{Freq: perSecond, Per: time.Second}, maxDuration, "e2e")
	go func() {
		defer close(l.done)
		for {
			select {
			case r, ok := <-res:
				if !ok {
					return
				}
				l.mu.Lock()
				l.metrics.Add(r)
				l.codes[int(r.Code)]++
				l.mu.Unlock()
			case <-ctx.Done():
				l.attacker.Stop()
			}
		}
	}()
	return l
}

// stop ends the load and summarizes it.
func (l *httpLoad) stop() string {
	l.attacker.Stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.metrics.Close()
	m := &l.metrics
	return fmt.Sprintf("%d requests at %.1f/s, %.1f%% 2xx, latency p50 %s p99 %s, codes %v, errors %v",
		m.Requests, m.Rate, 100*m.Success, m.Latencies.P50.Round(time.Millisecond), m.Latencies.P99.Round(time.Millisecond), l.codes, firstN(m.Errors, 3))
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}

// envRate reads a requests-per-second knob.
func envRate(t *testing.T, name string, def int) int {
	t.Helper()
	n, err := envInt(name, def)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ceilMul(n int32, f float64) int32 { return int32(math.Ceil(float64(n) * f)) }

// waitHPASteady waits until the HPA reads every metric, is active and
// keeps the workload at replicas: a quiet start for a scenario.
// scaleUpPeriod is the longest period of the HPA's scale-up policies (the
// default behaviour's when it sets none).
func scaleUpPeriod(h *autoscalingv2.HorizontalPodAutoscaler) time.Duration {
	period := 15 * time.Second // upstream's default scale-up policies
	if b := h.Spec.Behavior; b != nil && b.ScaleUp != nil && len(b.ScaleUp.Policies) > 0 {
		period = 0
		for _, p := range b.ScaleUp.Policies {
			period = max(period, time.Duration(p.PeriodSeconds)*time.Second)
		}
	}
	return period
}

func waitHPASteady(ctx context.Context, t *testing.T, name string, replicas int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var h *autoscalingv2.HorizontalPodAutoscaler
	err := eventually(ctx, func(ctx context.Context) error {
		var err error
		if h, err = cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		if unknown := unknownMetrics(h); len(unknown) > 0 {
			return fmt.Errorf("metrics not known yet: %v", unknown)
		}
		if c := hpaCondition(h, autoscalingv2.ScalingActive); c == nil || c.Status != "True" {
			return fmt.Errorf("not active: %s", describeConditions(h))
		}
		if h.Status.CurrentReplicas != replicas || h.Status.DesiredReplicas != replicas {
			return fmt.Errorf("current %d desired %d, want %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas, replicas)
		}
		// Upstream's scale-up limit counts the replicas the HPA removed in
		// the policy's period back in (periodStartReplicas), so a scale-down
		// left by an earlier scenario would let the first step exceed the
		// policy as a scenario measures it from here: wait the period out.
		if last, period := h.Status.LastScaleTime, scaleUpPeriod(h); last != nil && time.Since(last.Time) < period {
			return fmt.Errorf("last scaled %s ago, within the %s scale-up period", time.Since(last.Time).Round(time.Second), period)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("HPA %s not steady at %d replicas: %v", name, replicas, err)
	}
	t.Logf("HPA %s steady at %d: %s", name, replicas, describeCurrentMetrics(h))
}

// unknownMetrics names the spec metrics without a value in
// status.currentMetrics (what kubectl shows as <unknown>).
func unknownMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	var out []string
	for i, m := range h.Spec.Metrics {
		if i >= len(h.Status.CurrentMetrics) {
			out = append(out, kube.MetricKey(m))
			continue
		}
		if _, ok := metricValue(h.Status.CurrentMetrics[i]); !ok {
			out = append(out, kube.MetricKey(m))
		}
	}
	return out
}
