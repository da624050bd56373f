package recommend

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/testenv"
)

// promSeries is one container's history as the test writes it to
// Prometheus and as it expects the source to read it back.
type promSeries struct {
	ns, pod, ctr string
	cpu          float64               // constant rate, cores
	mem          func(t int64) float64 // working set at unix second t
}

// TestPrometheusSource backfills six hours of cAdvisor metrics into a real
// Prometheus with promtool, reads them with the Prometheus source, and
// checks the samples and the recommendation against the same history fed
// in directly.
func TestPrometheusSource(t *testing.T) {
	const scrape = 15 // seconds, cAdvisor's usual interval
	end := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	start := end.Add(-6 * time.Hour)
	oomAt := start.Add(3 * time.Hour).Unix()
	// Memory changes only on whole minutes, so that Prometheus 2's closed
	// and Prometheus 3's half-open range windows read the same peaks.
	steps := func(base float64, period int64) func(int64) float64 {
		return func(t int64) float64 {
			return (base + float64((t/60)%period)*8) * mi
		}
	}
	series := []promSeries{
		{"voiceassist", serverPod, "server", 0.25, steps(300, 7)},
		{"voiceassist", serverPod2, "server", 0.75, steps(340, 5)},
		{"voiceassist", workerPod, "worker", 1.5, steps(700, 11)},
		{"other", "voiceassist-worker-5c8d7f6b9-zzzzz", "worker", 3, steps(100, 3)}, // another namespace: not read
	}
	var om bytes.Buffer
	family := func(name, typ string, line func(s promSeries, t int64) string) {
		fmt.Fprintf(&om, "# TYPE %s %s\n", name, typ)
		for _, s := range series {
			for t := start.Unix(); t <= end.Unix(); t += scrape {
				fmt.Fprint(&om, line(s, t))
			}
		}
	}
	family("container_cpu_usage_seconds", "counter", func(s promSeries, t int64) string {
		v := s.cpu * float64(t-start.Unix())
		// The pod-level cgroup (container="") must not be read.
		return fmt.Sprintf("container_cpu_usage_seconds_total{namespace=%q,pod=%q,container=%q} %g %d\n", s.ns, s.pod, s.ctr, v, t) +
			fmt.Sprintf("container_cpu_usage_seconds_total{namespace=%q,pod=%q,container=\"\"} %g %d\n", s.ns, s.pod, 10*v, t)
	})
	family("container_memory_working_set_bytes", "gauge", func(s promSeries, t int64) string {
		return fmt.Sprintf("container_memory_working_set_bytes{namespace=%q,pod=%q,container=%q} %g %d\n", s.ns, s.pod, s.ctr, s.mem(t), t)
	})
	family("container_oom_events", "counter", func(s promSeries, t int64) string {
		n := 0
		if s.pod == workerPod && t >= oomAt {
			n = 1
		}
		return fmt.Sprintf("container_oom_events_total{namespace=%q,pod=%q,container=%q} %d %d\n", s.ns, s.pod, s.ctr, n, t)
	})
	om.WriteString("# EOF\n")
	prom := testenv.StartPrometheusWithHistory(t, om.Bytes())

	// Read from 5 minutes in, so that every rate window is full.
	scope := Scope{Namespaces: []string{"voiceassist"}, End: end, Range: end.Sub(start) - 5*time.Minute, Step: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := Prometheus{URL: prom.URL}.Read(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}

	// What the source should have read: one point a minute per container,
	// the counter's rate and the peak working set of the minute.
	want := &Observations{OOMs: []OOM{{Namespace: "voiceassist", Pod: workerPod, Container: "worker", Time: time.Unix(oomAt, 0)}}}
	for _, s := range series[:3] {
		for ts := end.Add(-scope.Range); !ts.After(end); ts = ts.Add(time.Minute) {
			peak := 0.0
			for u := ts.Unix() - 60 + scrape; u <= ts.Unix(); u += scrape {
				peak = math.Max(peak, s.mem(u))
			}
			want.Samples = append(want.Samples, Sample{Namespace: s.ns, Pod: s.pod, Container: s.ctr, Time: ts, CPUCores: s.cpu, MemoryBytes: peak})
		}
	}
	if len(obs.Samples) != len(want.Samples) {
		t.Fatalf("%d samples, want %d (3 containers × %d minutes)", len(obs.Samples), len(want.Samples), len(want.Samples)/3)
	}
	got := map[string]Sample{}
	for _, s := range obs.Samples {
		got[fmt.Sprintf("%s/%s/%s@%d", s.Namespace, s.Pod, s.Container, s.Time.Unix())] = s
	}
	for _, w := range want.Samples {
		k := fmt.Sprintf("%s/%s/%s@%d", w.Namespace, w.Pod, w.Container, w.Time.Unix())
		g, ok := got[k]
		if !ok {
			t.Fatalf("no sample %s", k)
		}
		if math.Abs(g.CPUCores-w.CPUCores) > 1e-9 || g.MemoryBytes != w.MemoryBytes {
			t.Fatalf("sample %s: cpu %g mem %g, want cpu %g mem %g", k, g.CPUCores, g.MemoryBytes, w.CPUCores, w.MemoryBytes)
		}
	}
	if len(obs.OOMs) != 1 || obs.OOMs[0].Pod != workerPod || !obs.OOMs[0].Time.Equal(want.OOMs[0].Time) {
		t.Fatalf("OOMs %+v, want one of %s at %s", obs.OOMs, workerPod, want.OOMs[0].Time)
	}

	// The recommendation from Prometheus is the one from the history itself.
	set := envSet(t, "prod")
	fromProm, err := Recommend(set, obs, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Recommend(set, want, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range [][2]string{{"voiceassist-server", "server"}, {"voiceassist-worker", "worker"}} {
		a, b := findContainer(t, fromProm, name[0], name[1]), findContainer(t, direct, name[0], name[1])
		if a.VPA.Target != b.VPA.Target || a.VPA.CPUSamples != b.VPA.CPUSamples || a.VPA.OOMs != b.VPA.OOMs {
			t.Errorf("%s: from Prometheus %+v, from the history %+v", name[0], a.VPA, b.VPA)
		}
	}
	if w := findContainer(t, fromProm, "voiceassist-worker", "worker"); w.VPA.OOMs != 1 {
		t.Errorf("worker: %d OOMs in the estimate, want 1", w.VPA.OOMs)
	}
}

// TestPrometheusSourceEightDays reads the default --range 8d at --step 1m
// (11,521 points, more than the 11,000 Prometheus returns per series and
// query) from a real Prometheus: every stored point comes back exactly
// once, including those on the first and last step of each chunk.
func TestPrometheusSourceEightDays(t *testing.T) {
	end := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	scope := Scope{Namespaces: []string{"voiceassist"}, End: end, Range: 8 * 24 * time.Hour, Step: time.Minute}
	start := end.Add(-scope.Range)
	// A sparse working-set series: a point 30 s before a step is read by
	// that step's [1m] window alone. One point every 10 minutes, and one on
	// each side of every day boundary, the first step and the last.
	want := map[int64]float64{} // step (unix s) → value
	var om bytes.Buffer
	om.WriteString("# TYPE container_memory_working_set_bytes gauge\n")
	var stepsAt []int64
	for m := int64(0); m <= int64(scope.Range/time.Minute); m++ {
		if m%10 == 1 || m%1440 == 0 || m%1440 == 1439 || m == int64(scope.Range/time.Minute) {
			stepsAt = append(stepsAt, start.Unix()+m*60)
		}
	}
	for i, st := range stepsAt {
		v := float64(i+1) * mi
		want[st] = v
		fmt.Fprintf(&om, "container_memory_working_set_bytes{namespace=\"voiceassist\",pod=%q,container=\"server\"} %g %d\n", serverPod, v, st-30)
	}
	om.WriteString("# EOF\n")
	prom := testenv.StartPrometheusWithHistory(t, om.Bytes())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := Prometheus{URL: prom.URL}.Read(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	for _, s := range obs.Samples {
		ts := s.Time.Unix()
		seen[ts]++
		if w, ok := want[ts]; !ok || s.MemoryBytes != w {
			t.Errorf("sample at %s: memory %g, want %g (stored: %t)", s.Time.UTC(), s.MemoryBytes, w, ok)
		}
	}
	for ts := range want {
		if seen[ts] != 1 {
			t.Errorf("step %s read %d times, want once", time.Unix(ts, 0).UTC(), seen[ts])
		}
	}
	if len(obs.Samples) != len(want) {
		t.Errorf("%d samples, want %d", len(obs.Samples), len(want))
	}
}

func TestRangeChunks(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	end := start.Add(8 * 24 * time.Hour)
	chunks := rangeChunks(start, end, time.Minute)
	if len(chunks) != 9 {
		t.Fatalf("%d chunks, want 9 (8 days and the end point)", len(chunks))
	}
	next := start
	for i, c := range chunks {
		if !c.Start.Equal(next) {
			t.Fatalf("chunk %d starts at %s, want %s", i, c.Start, next)
		}
		if n := c.End.Sub(c.Start)/c.Step + 1; n > maxPoints || n > 1440 {
			t.Fatalf("chunk %d has %d points", i, n)
		}
		next = c.End.Add(c.Step)
	}
	if !chunks[len(chunks)-1].End.Equal(end) {
		t.Fatalf("last chunk ends at %s, want %s", chunks[len(chunks)-1].End, end)
	}
	// A step of 10 s: 8,640 points a day, still under the cap.
	if c := rangeChunks(start, end, 10*time.Second); len(c) != 9 {
		t.Fatalf("%d chunks at 10s, want 9", len(c))
	}
}
