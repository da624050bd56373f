package loadtest

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

// timeline builds a constructed run: load for loadSecs seconds at 40 req/s
// where ok(t) answer, the gateway HPA's replicas replicas(t) (min 3), then
// cool-down seconds up to total.
func timeline(loadSecs, total int64, ok func(t int64) int, p99 func(t int64) float64, replicas func(t int64) int32) []Second {
	var tl []Second
	for t := int64(0); t < total; t++ {
		s := Second{T: t, Phase: "load", API: &Traffic{Offered: 40, Sent: 40}}
		if t >= loadSecs {
			s.Phase, s.API = "cooldown", &Traffic{}
		} else {
			s.API.OK = ok(t)
			s.API.P99 = p99(t)
			if e := 40 - s.API.OK; e > 0 {
				s.API.Errors = map[string]int{"503": e}
			}
		}
		n := replicas(t)
		s.Cluster = &ClusterSample{HPAs: []HPASample{{Name: "voiceassist-server-hpa", Target: "voiceassist-server", Min: 3, Max: 7,
			Current: n, Desired: n, Ready: n, Metrics: []MetricValue{{Key: "Resource/cpu", Current: 90, Known: true, Target: 70, Unit: "%"}}}}}
		tl = append(tl, s)
	}
	return tl
}

func TestSummarize(t *testing.T) {
	// 100 s of load: short (30 of 40 answered) from 10 s to 39 s, then fine;
	// replicas 3, up to 5 at 20 s and 7 at 50 s; back to 3 at 130 s, 30 s
	// after the load.
	tl := timeline(100, 150,
		func(t int64) int {
			if t >= 10 && t < 40 {
				return 30
			}
			return 40
		},
		func(t int64) float64 {
			if t == 45 {
				return 900 // one second over the p99 SLO below
			}
			return 100
		},
		func(t int64) int32 {
			switch {
			case t >= 130:
				return 3
			case t >= 50:
				return 7
			case t >= 20:
				return 5
			}
			return 3
		})
	m := Meta{Target: TargetAPI, Profile: ProfileSpike, LoadSeconds: 100, Cluster: true,
		APILatency: Quantiles{P50: 50, P95: 120, P99: 400}}
	rep := Summarize(m, tl, []SLO{{Key: "p99", Max: 500}, {Key: "errors", Max: 0.1}})

	if rep.API.Requests != 4000 || rep.API.OK != 4000-300 || rep.API.Errors["503"] != 300 {
		t.Errorf("api %+v", rep.API)
	}
	if rep.API.AchievedRate != 37 || rep.API.OfferedRate != 40 {
		t.Errorf("achieved %g offered %g, want 37 and 40", rep.API.AchievedRate, rep.API.OfferedRate)
	}
	// answered over the 5 s around each second: under 95 % from 9 to 40
	// (at 8 and 41 one short second in five is 95 %), and at 45 p99 is over
	// its SLO: first shortfall at 9; the first 10 good seconds in a row
	// start at 46
	if rep.ShortfallSeconds != 33 || rep.CapacityMetDemandSeconds != 37 {
		t.Errorf("shortfall %ds, capacity met demand after %ds; want 33 and 37", rep.ShortfallSeconds, rep.CapacityMetDemandSeconds)
	}
	h := rep.HPAs[0]
	if h.Initial != 3 || h.Peak != 7 || h.PeakReady != 7 || h.FirstScaleUpSeconds != 20 || h.BackToMinSeconds != 30 || h.ScaleEvents != 3 {
		t.Errorf("hpa %+v", h)
	}
	if rep.FirstScaleUpSeconds != 20 || rep.BackToMinSeconds != 30 {
		t.Errorf("first scale-up %d, back to min %d", rep.FirstScaleUpSeconds, rep.BackToMinSeconds)
	}
	// p99 400 ms <= 500: met, with 1 second over; errors 7.5 % <= 10 %: met
	if len(rep.SLOs) != 2 || !rep.SLOs[0].OK || rep.SLOs[0].ViolationSeconds != 1 || !rep.SLOs[1].OK || rep.SLOs[1].ViolationSeconds != 30 {
		t.Errorf("SLOs %+v", rep.SLOs)
	}
	if rep.Verdict != "pass" {
		t.Errorf("verdict %s %v", rep.Verdict, rep.Reasons)
	}

	// the same run with the default 1 % error budget fails, saying why
	rep = Summarize(m, tl, nil)
	if rep.Verdict != "fail" || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "errors<=1% missed: 7.50%") {
		t.Errorf("default budget: verdict %s %v", rep.Verdict, rep.Reasons)
	}

	// (without the p99 SLO the second at 45 s is no shortfall)
	var text, md, pngBuf bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4000 requests, 3700 ok (92.5%)", "met demand 32s after the first shortfall (32 seconds short in all)",
		"first scale-up 20s, back to min 30s after the load", "verdict: fail", "voiceassist-server  3    7    3      7"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if err := WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**Verdict: fail**") || !strings.Contains(md.String(), "| voiceassist-server-hpa | voiceassist-server | 3 | 7 | 3 | 7 | 7 | 20s | 30s | 3 |") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if err := WritePNG(&pngBuf, rep, "voiceassist-server", "voiceassist-worker"); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&pngBuf); err != nil {
		t.Errorf("PNG does not decode: %v", err)
	}
}

func TestSummarizeNeverCaughtUp(t *testing.T) {
	tl := timeline(60, 60, func(int64) int { return 20 }, func(int64) float64 { return 100 }, func(int64) int32 { return 3 })
	rep := Summarize(Meta{LoadSeconds: 60, Cluster: true}, tl, nil)
	if rep.CapacityMetDemandSeconds != -1 || rep.FirstScaleUpSeconds != -1 || rep.HPAs[0].Peak != 3 {
		t.Errorf("capacity %d, first scale-up %d, peak %d", rep.CapacityMetDemandSeconds, rep.FirstScaleUpSeconds, rep.HPAs[0].Peak)
	}
	if !strings.Contains(rep.capacityLine(), "still short") {
		t.Errorf("capacity line %q", rep.capacityLine())
	}
}

func TestSummarizeInterruptedAndJobs(t *testing.T) {
	tl := []Second{
		{T: 0, Phase: "load", Jobs: &JobTraffic{Traffic: Traffic{Offered: 10, Sent: 10, OK: 10}, InFlight: 10}},
		{T: 1, Phase: "cooldown", Jobs: &JobTraffic{Done: 6, Failed: 1, InFlight: 10}},
		{T: 2, Phase: "cooldown", Jobs: &JobTraffic{Done: 1, InFlight: 3}},
	}
	rep := Summarize(Meta{LoadSeconds: 1, Interrupted: true, JobsUnfinished: 2}, tl, nil)
	j := rep.Jobs
	if j.Done != 7 || j.Failed != 1 || j.Unfinished != 2 || j.MaxInFlight != 10 || rep.CapacityMetDemandSeconds != -1 {
		t.Errorf("jobs %+v, drained %d", j, rep.CapacityMetDemandSeconds)
	}
	// 1 failed + 2 unfinished of 10: 30 % errors
	if rep.SLOs[0].Observed != 0.3 || rep.Verdict != "fail" || len(rep.Reasons) != 3 {
		t.Errorf("SLO %+v, verdict %s %v", rep.SLOs[0], rep.Verdict, rep.Reasons)
	}
}

func hpaWith(min, max int32, down *autoscalingv2.HPAScalingRules) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	h.Spec.MinReplicas, h.Spec.MaxReplicas = ptr.To(min), max
	if down != nil {
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: down}
	}
	return h
}

func TestCooldown(t *testing.T) {
	pods := func(n, period int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
	}
	percent := func(n, period int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
	}
	for _, c := range []struct {
		name string
		h    *autoscalingv2.HorizontalPodAutoscaler
		peak int32
		want time.Duration
	}{
		// our gateway: window 300 s, 1 pod per 300 s: 7 → 3 is 4 periods
		{"gateway", hpaWith(3, 7, &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](300), Policies: []autoscalingv2.HPAScalingPolicy{pods(1, 300)}}), 7, 300*time.Second + 4*300*time.Second},
		// our worker: window 600 s, 10 % per 600 s: 5 → 4 → 3 → 2 → 1 (int(0.9n) or n-1)
		{"worker", hpaWith(1, 5, &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](600), Policies: []autoscalingv2.HPAScalingPolicy{percent(10, 600)}}), 5, 600*time.Second + 4*600*time.Second},
		// the defaults: window 300 s, 100 % per 15 s: one period
		{"defaults", hpaWith(2, 10, nil), 10, 300*time.Second + 15*time.Second},
		// selectPolicy Max takes the bigger change: 4 pods per 60 s over 10 % per 60 s
		{"max of two", hpaWith(1, 20, &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), Policies: []autoscalingv2.HPAScalingPolicy{percent(10, 60), pods(4, 60)}}), 9, 2 * 60 * time.Second},
		{"at min", hpaWith(3, 7, nil), 3, 300 * time.Second},
	} {
		got, ok := Cooldown(c.h, c.peak)
		if !ok || got != c.want+syncSlack {
			t.Errorf("%s: cool-down %s %v, want %s", c.name, got, ok, c.want+syncSlack)
		}
	}
	off := hpaWith(1, 5, &autoscalingv2.HPAScalingRules{SelectPolicy: ptr.To(autoscalingv2.DisabledPolicySelect)})
	if _, ok := Cooldown(off, 5); ok {
		t.Errorf("scale-down disabled: want no cool-down")
	}
}

func TestSummarizeGeneratorLag(t *testing.T) {
	tl := []Second{
		{T: 0, Phase: "load", API: &Traffic{Offered: 20, Sent: 20, OK: 20}},
		{T: 1, Phase: "load", API: &Traffic{Offered: 20, Sent: 10, OK: 10}},
	}
	rep := Summarize(Meta{LoadSeconds: 2}, tl, nil)
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "sent 30 of the 40 requests") {
		t.Errorf("notes %v", rep.Notes)
	}
	tl[1].API.Sent, tl[1].API.OK = 19, 19
	if rep := Summarize(Meta{LoadSeconds: 2}, tl, nil); len(rep.Notes) != 0 {
		t.Errorf("39 of 40: notes %v", rep.Notes)
	}
}
