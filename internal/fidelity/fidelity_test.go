package fidelity

import (
	"bytes"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// report builds a worker-burst report whose worker HPA wants desired(t)
// replicas at second t and syncs at t ≡ phase (mod 15); the gateway HPA
// sits at 3 and must be ignored.
func report(n int64, burstAt int64, burst int, desired func(t int64) int32, phase int64) *loadtest.Report {
	rep := &loadtest.Report{Meta: loadtest.Meta{Target: loadtest.TargetWorker, Profile: "burst", Cluster: true}}
	for t := int64(0); t < n; t++ {
		s := loadtest.Second{T: t, Phase: "load", Jobs: &loadtest.JobTraffic{}}
		if t == burstAt {
			s.Jobs.OK = burst
		}
		d := desired(t)
		// the status changes once per sync: a metric that counts syncs
		syncs := float64((t - phase + 15) / 15)
		depth := float64(t / 15) // the exporter's value changes at multiples of 15 s
		s.Cluster = &loadtest.ClusterSample{
			HPAs: []loadtest.HPASample{
				{Name: "voiceassist-server-hpa", Target: sim.GatewayName, Min: 3, Max: 7, Current: 3, Desired: 3},
				{Name: "voiceassist-worker-hpa", Target: sim.WorkerName, Min: 1, Max: 4, Current: d, Desired: d,
					Metrics: []loadtest.MetricValue{{Key: "External/voiceassist_queue_depth", Current: syncs, Known: true, Target: 50}}},
			},
			External: []loadtest.ExternalValue{{Metric: "voiceassist_queue_depth", Value: &depth}},
		}
		rep.Timeline = append(rep.Timeline, s)
	}
	return rep
}

func step(at ...int64) func(int64) int32 {
	return func(t int64) int32 {
		n := int32(1)
		for _, a := range at {
			if t >= a {
				n++
			}
		}
		return n
	}
}

func TestFromReport(t *testing.T) {
	run, err := FromReport(report(300, 2, 400, step(21, 81), 6), "r.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Replay.Jobs) != 300 || run.Replay.Jobs[2] != 400 || run.Replay.Jobs[3] != 0 {
		t.Errorf("replay jobs: %d seconds, %d at 2 s: want 300 seconds, the burst of 400 at 2 s", len(run.Replay.Jobs), run.Replay.Jobs[2])
	}
	if len(run.HPAs) != 1 || run.HPAs[0].HPA != "voiceassist-worker-hpa" {
		t.Fatalf("HPAs %+v: want the worker's alone (target worker)", run.HPAs)
	}
	h := run.HPAs[0]
	want := []Event{{T: 21, From: 1, To: 2}, {T: 81, From: 2, To: 3}}
	if len(h.Events) != 2 || h.Events[0] != want[0] || h.Events[1] != want[1] || h.Peak != 3 || h.Initial != 1 {
		t.Errorf("measured %+v: want events %v, initial 1, peak 3", h, want)
	}
	ph, how := run.Phases(15, 15)
	if ph.Sync != 6 || ph.Scrape != 0 || ph.MetricsServer != 11 {
		t.Errorf("phases %+v (%s): want sync 6, scrape 0 (the External value changes at multiples of 15), metrics-server 10 s before the sync", ph, how)
	}
}

func TestFromReportErrors(t *testing.T) {
	noCluster := report(10, 0, 1, step(), 0)
	for i := range noCluster.Timeline {
		noCluster.Timeline[i].Cluster = nil
	}
	noWorker := report(10, 0, 1, step(), 0)
	for i := range noWorker.Timeline {
		noWorker.Timeline[i].Cluster.HPAs = noWorker.Timeline[i].Cluster.HPAs[:1]
	}
	badTarget := report(10, 0, 1, step(), 0)
	badTarget.Target = "db"
	disorder := report(10, 0, 1, step(), 0)
	disorder.Timeline[5].T = 2
	for _, c := range []struct {
		rep  *loadtest.Report
		want string
	}{
		{noCluster, "r.json: timeline[].cluster: no second has the cluster's HPAs"},
		{noWorker, "no HPA targets Deployment voiceassist-worker"},
		{badTarget, `r.json: target "db"`},
		{disorder, "r.json: timeline[5].t 2"},
		{&loadtest.Report{Meta: loadtest.Meta{Target: "api"}}, "r.json: timeline: empty"},
	} {
		_, err := FromReport(c.rep, "r.json")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	m := Measured{HPA: "h", Deployment: "d", Initial: 1, Peak: 3,
		Events: []Event{{T: 20, From: 1, To: 2}, {T: 80, From: 2, To: 3}, {T: 400, From: 3, To: 2}}}
	simd := func(peak int32, evs ...sim.ScaleEvent) *sim.DeploymentResult {
		return &sim.DeploymentResult{Name: "d", HPA: "h", Summary: sim.Summary{PeakReplicas: peak}, Events: evs}
	}
	ok := Compare(m, simd(3, sim.ScaleEvent{T: 25, From: 1, To: 2}, sim.ScaleEvent{T: 70, From: 2, To: 3}, sim.ScaleEvent{T: 415, From: 3, To: 2}), 15)
	if !ok.Agree || len(ok.Matches) != 3 || ok.MaxDeltaSeconds != 15 || ok.Matches[1].DeltaSeconds != -10 {
		t.Errorf("%+v: want all three matched (the last exactly one sync period late), largest gap 15 s", ok)
	}
	late := Compare(m, simd(3, sim.ScaleEvent{T: 25, From: 1, To: 2}, sim.ScaleEvent{T: 96, From: 2, To: 3}, sim.ScaleEvent{T: 400, From: 3, To: 2}), 15)
	if late.Agree || len(late.Unmatched) != 1 || late.Unmatched[0].T != 80 || len(late.Extra) != 1 || late.Extra[0].T != 96 {
		t.Errorf("%+v: want 80 s unmatched and the simulated 96 s extra (16 s > 15 s)", late)
	}
	wrongStep := Compare(m, simd(4, sim.ScaleEvent{T: 20, From: 1, To: 2}, sim.ScaleEvent{T: 80, From: 2, To: 4}, sim.ScaleEvent{T: 400, From: 4, To: 2}), 15)
	if wrongStep.Agree || len(wrongStep.Unmatched) != 2 || len(wrongStep.Extra) != 2 {
		t.Errorf("%+v: want 2 → 3 and 3 → 2 unmatched, 2 → 4 and 4 → 2 extra", wrongStep)
	}
	peak := Compare(m, simd(4, sim.ScaleEvent{T: 20, From: 1, To: 2}, sim.ScaleEvent{T: 80, From: 2, To: 3}, sim.ScaleEvent{T: 400, From: 3, To: 2}), 15)
	if peak.Agree {
		t.Errorf("%+v: peaks 3 and 4 must disagree", peak)
	}
	var b bytes.Buffer
	if err := WriteText(&b, []Agreement{ok, late}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"h (Deployment d): AGREE — 3 of 3 measured scale events matched within 15 s (largest gap 15 s)",
		"h (Deployment d): DISAGREE — 2 of 3", "0:01:20    -                   2 → 3  no simulated event within 15 s", "simulated only"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPhase(t *testing.T) {
	if p, ok := Phase([]int64{7, 22, 37, 38, 52, 3}, 15); !ok || p != 7 {
		t.Errorf("phase %d %v, want 7 (four of six at 7 mod 15)", p, ok)
	}
	if _, ok := Phase(nil, 15); ok {
		t.Error("a phase from no times")
	}
}

// A report built from a simulation agrees with the simulation of its own
// load; the same report with the worker's events 20 s later (more than one
// sync period) does not.
func TestRoundTrip(t *testing.T) {
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.EnvOnCluster("prod")
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]int64, 1500)
	jobs[3] = 3000
	sc, err := sim.ReplayScenario(&sim.Replay{Name: "burst", Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	ph := sim.Phases{MetricsServer: 2, Scrape: 7, Sync: 12}
	// The measured worker (jobs of a fraction of a second) drains this burst
	// with one or two scale events; 4 s jobs, 2 at a time (the simulator's
	// old guess) give the several events a comparison needs.
	params := sim.DefaultParams()
	w := &params.Worker
	w.Concurrency, w.JobMeanSeconds, w.JobCV, w.CPUPerJob = 2, 4, 0.5, 400
	w.IdleCPU, w.BaseMemoryMi, w.MemoryMiPerJob = 50, 300, 200
	res, err := sim.Simulate(sim.Config{Set: set, Params: params, Scenario: sc, Seed: 1, Phases: &ph})
	if err != nil {
		t.Fatal(err)
	}
	wk, err := Deployment(res, sim.WorkerName)
	if err != nil {
		t.Fatal(err)
	}
	if len(wk.Events) < 3 {
		t.Fatalf("the simulated burst has %d worker scale events: want a few to compare", len(wk.Events))
	}
	for _, shift := range []int64{0, 20} {
		replicas := func(t int64) int32 {
			i := min(max(t-shift, 0), int64(len(wk.Timeline)-1))
			return wk.Timeline[i].Replicas
		}
		rep := report(int64(len(jobs)), 3, 3000, replicas, ph.Sync)
		run, err := FromReport(rep, "sim.json")
		if err != nil {
			t.Fatal(err)
		}
		as, err := CompareAll(run, res, 15)
		if err != nil {
			t.Fatal(err)
		}
		if got := Agree(as); got != (shift == 0) {
			var b bytes.Buffer
			WriteText(&b, as)
			t.Errorf("events shifted %d s: agree %v, want %v\n%s", shift, got, shift == 0, b.String())
		}
	}
}
