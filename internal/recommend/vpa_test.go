package recommend

import (
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
)

const (
	serverPod  = "voiceassist-server-7f9c6d5b8-k2x4q"
	serverPod2 = "voiceassist-server-7f9c6d5b8-p9w7z"
	workerPod  = "voiceassist-worker-5c8d7f6b9-h3j5m"
	mi         = 1 << 20
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// minutes returns one sample a minute for n minutes from t0, with usage
// given by f(i).
func minutes(pod, ctr string, n int, f func(i int) (cpu, mem float64)) []Sample {
	out := make([]Sample, n)
	for i := range out {
		c, m := f(i)
		out[i] = Sample{Namespace: "voiceassist", Pod: pod, Container: ctr, Time: t0.Add(time.Duration(i) * time.Minute), CPUCores: c, MemoryBytes: m}
	}
	return out
}

// libraryTarget runs the same samples through the VPA library as its own
// recommender wires it: the package-global default aggregation config
// (model.NewAggregateContainerState), one ContainerState per pod, and
// logic.CreatePodResourceRecommender. It shares no code with estimator.
func libraryTarget(t *testing.T, samples []Sample, ooms []OOM, requestMemory float64) logic.RecommendedContainerResources {
	t.Helper()
	agg := model.NewAggregateContainerState()
	states := map[string]*model.ContainerState{}
	for _, s := range samples {
		cs := states[s.Pod]
		if cs == nil {
			cs = model.NewContainerState(model.Resources{model.ResourceMemory: model.MemoryAmountFromBytes(requestMemory)}, agg)
			states[s.Pod] = cs
		}
		for _, o := range ooms {
			if o.Pod == s.Pod && o.Time.Before(s.Time) && !o.Time.Before(s.Time.Add(-time.Minute)) {
				if err := cs.RecordOOM(o.Time, model.MemoryAmountFromBytes(requestMemory)); err != nil {
					t.Fatalf("RecordOOM %s at %s: %v", o.Pod, o.Time, err)
				}
			}
		}
		cs.AddSample(&model.ContainerUsageSample{MeasureStart: s.Time, Usage: model.CPUAmountFromCores(s.CPUCores), Resource: model.ResourceCPU})
		cs.AddSample(&model.ContainerUsageSample{MeasureStart: s.Time, Usage: model.MemoryAmountFromBytes(s.MemoryBytes), Resource: model.ResourceMemory})
	}
	rec := logic.CreatePodResourceRecommender(DefaultVPAConfig().RecommendationConfig)
	return rec.GetRecommendedPodResources(model.ContainerNameToAggregateStateMap{"c": agg})["c"]
}

func TestEstimateMatchesLibrary(t *testing.T) {
	// Staging's quota has room for 4× limits at the maxima (prod's would
	// lower them; TestQuotaFitting covers that).
	set := envSet(t, "staging")
	// Two days of a daily cycle on two gateway pods: CPU between 0.1 and
	// 0.7 cores, memory between 300 and 500 Mi.
	const n = 2 * 24 * 60
	cycle := func(phase float64) func(int) (float64, float64) {
		return func(i int) (float64, float64) {
			x := math.Sin(2*math.Pi*float64(i)/(24*60) + phase)
			return 0.4 + 0.3*x, (400 + 100*x) * mi
		}
	}
	samples := append(minutes(serverPod, "server", n, cycle(0)), minutes(serverPod2, "server", n, cycle(1))...)
	res, err := Recommend(set, &Observations{Samples: samples}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := findContainer(t, res, "voiceassist-server", "server")
	want := libraryTarget(t, samples, nil, 512*mi)
	got := c.VPA
	if got.Target != amounts(want.Target) || got.LowerBound != amounts(want.LowerBound) || got.UpperBound != amounts(want.UpperBound) {
		t.Fatalf("estimate %+v, library target %v lower %v upper %v", got, want.Target, want.LowerBound, want.UpperBound)
	}
	if got.CPUSamples != 2*n {
		t.Errorf("cpu samples %d, want %d", got.CPUSamples, 2*n)
	}
	// A sine spends 10 % of its time above cos(0.1π), so its p90 is
	// 0.4+0.3·cos(0.1π) (the decay tilts it a little toward the second day).
	p90 := 0.4 + 0.3*math.Cos(0.1*math.Pi)
	if lo, hi := p90*1.15*0.95, p90*1.15*1.06; got.Target.CPUCores < lo || got.Target.CPUCores > hi {
		t.Errorf("cpu target %.3f, want p90 %.3f +15%% (within a 5%% histogram bucket): %.3f–%.3f", got.Target.CPUCores, p90, lo, hi)
	}
	// Memory: one peak per pod per day, near 500 Mi; +15 %.
	if lo, hi := 500*mi*1.15*0.95, 500*mi*1.15*1.06; got.Target.MemoryBytes < lo || got.Target.MemoryBytes > hi {
		t.Errorf("memory target %s, want about 500Mi +15%%", fmtMem(got.Target.MemoryBytes))
	}
	// Two days of history: confidence 2, upper bound ×(1+1/2), lower ×(1+0.001/2)^-2.
	if r := got.UpperBound.CPUCores / got.Target.CPUCores; r < 1.4 || r > 1.7 {
		t.Errorf("upper/target %.2f, want about 1.5 (p95/p90 × 1.5)", r)
	}
	// Limits keep the current 4× ratio; requests are the target rounded up.
	if q := c.Recommended.Requests.Cpu().MilliValue(); q != int64(math.Ceil(got.Target.CPUCores*1000-1e-9)) {
		t.Errorf("cpu request %dm for target %.4f", q, got.Target.CPUCores)
	}
	if l, r := c.Recommended.Limits.Cpu().MilliValue(), c.Recommended.Requests.Cpu().MilliValue(); l != 4*r {
		t.Errorf("cpu limit %dm, want 4× the request %dm", l, r)
	}
}

func TestPodMinimumsAndOOMBump(t *testing.T) {
	set := envSet(t, "prod")
	// An idle worker: 1m and 20Mi. The pod minimums (one container) win.
	idle := minutes(workerPod, "worker", 600, func(int) (float64, float64) { return 0.001, 20 * mi })
	res, err := Recommend(set, &Observations{Samples: idle}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := findContainer(t, res, "voiceassist-worker", "worker")
	if c.VPA.Target.CPUCores != 0.025 || c.VPA.Target.MemoryBytes != 250*mi {
		t.Fatalf("idle target %s, want the pod minimums 25m / 250Mi", fmtAmounts(c.VPA.Target))
	}

	// A worker at 600Mi that is OOM-killed: the kill becomes a sample of
	// max(1.2 × max(request 1Gi, peak), +100Mi) = 1.2Gi, the new peak.
	busy := minutes(workerPod, "worker", 600, func(int) (float64, float64) { return 0.5, 600 * mi })
	oom := []OOM{{Namespace: "voiceassist", Pod: workerPod, Container: "worker", Time: t0.Add(300*time.Minute + 30*time.Second)}}
	res, err = Recommend(set, &Observations{Samples: busy, OOMs: oom}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c = findContainer(t, res, "voiceassist-worker", "worker")
	want := libraryTarget(t, busy, oom, 1024*mi)
	if c.VPA.OOMs != 1 || c.VPA.Target != amounts(want.Target) {
		t.Fatalf("with an OOM: %d OOMs, target %s; library %s", c.VPA.OOMs, fmtAmounts(c.VPA.Target), fmtAmounts(amounts(want.Target)))
	}
	if lo := 1.2 * 1024 * mi * 1.15; c.VPA.Target.MemoryBytes < lo {
		t.Errorf("memory target %s after an OOM, want at least 1.2Gi +15%% = %s", fmtMem(c.VPA.Target.MemoryBytes), fmtMem(lo))
	}
}

func TestKRRSimpleFormula(t *testing.T) {
	// 100 points 1..100 m: numpy.percentile(…, 95) = 95.05 m; memory max 500Mi +15 %.
	h := &containerHistory{pods: map[string][]Sample{}}
	for i := 1; i <= 100; i++ {
		h.pods["p"] = append(h.pods["p"], Sample{CPUCores: float64(i) / 1000, MemoryBytes: float64(400+i) * mi})
	}
	k := krrSimple(h, map[string]bool{})
	if math.Abs(k.CPURequestCores-0.09505) > 1e-12 || k.MemoryBytes != 500*mi*1.15 || k.Note != "" {
		t.Fatalf("krr simple %+v, want cpu 0.09505 cores, memory 575Mi, no note", k)
	}
	if k := krrSimple(h, map[string]bool{"cpu": true}); k.Note == "" {
		t.Error("an HPA on cpu: krr answers ? without --allow-hpa; want a note")
	}
	h.pods["p"] = h.pods["p"][:99]
	if k := krrSimple(h, map[string]bool{}); k.Note == "" {
		t.Error("99 points: krr needs 100; want a note")
	}
}

func TestPodOwnership(t *testing.T) {
	ws := envSet(t, "prod").Workloads()
	for pod, want := range map[string]string{
		serverPod:                                   "voiceassist-server",
		"voiceassist-redis-0":                       "voiceassist-redis",
		"voiceassist-postgres-12":                   "voiceassist-postgres",
		"queue-exporter-6b7d8c9f5-q4r8t":            "queue-exporter",
		"voiceassist-server-0":                      "", // a Deployment's pods are not ordinals
		"voiceassist-redis-abc12-x9z8w":             "", // nor a StatefulSet's hashes
		"voiceassist-server-canary-7f9c6d5b8-k2x4q": "",
	} {
		got := ""
		if i := ownerOf(ws, "voiceassist", pod); i >= 0 {
			got = ws[i].Name
		}
		if got != want {
			t.Errorf("pod %s: owner %q, want %q", pod, got, want)
		}
	}
}

func TestRedisMaxmemoryFloor(t *testing.T) {
	set := envSet(t, "prod")
	// An idle queue: the pod minimum 250Mi × 4 would be a 1000Mi limit, under
	// the 1Gi that --maxmemory 768mb needs with a quarter of headroom.
	idle := minutes("voiceassist-redis-0", "redis", 600, func(int) (float64, float64) { return 0.01, 40 * mi })
	res, err := Recommend(set, &Observations{Samples: idle}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := findContainer(t, res, "voiceassist-redis", "redis")
	lim, req := c.Recommended.Limits.Memory().Value(), c.Recommended.Requests.Memory().Value()
	if lim != 1024*mi || req != 256*mi {
		t.Fatalf("redis memory request %s limit %s, want 256Mi / 1Gi (768mb is 75%% of 1Gi, and 1Gi is 4× 256Mi)", fmtMem(float64(req)), fmtMem(float64(lim)))
	}
	if mm, ok := redisMaxmemory(&corev1.Container{Args: []string{"redis-server", "--maxmemory", "2gb"}}); !ok || mm != 2<<30 {
		t.Errorf("--maxmemory 2gb read as %g, %v", mm, ok)
	}
	if mm, ok := redisMaxmemory(&corev1.Container{Args: []string{"--maxmemory=500m"}}); !ok || mm != 500e6 {
		t.Errorf("--maxmemory=500m read as %g, %v", mm, ok)
	}
}
