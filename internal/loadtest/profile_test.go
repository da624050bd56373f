package loadtest

import (
	"math"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/voiceassist/autoscaling/internal/sim"
)

func rateAt(s Shape, sec float64) float64 {
	r, _ := s.Rates(time.Duration(sec*float64(time.Second)), 10, 1)
	return r
}

func TestShapes(t *testing.T) {
	spike := DefaultShape(ProfileSpike)
	spike.Start, spike.Rise, spike.Hold, spike.Factor = 60*time.Second, 30*time.Second, 300*time.Second, 5
	spike.Duration = spike.DefaultDuration()
	ramp := DefaultShape(ProfileRamp)
	ramp.Start, ramp.Rise, ramp.Factor = 60*time.Second, 100*time.Second, 3
	ramp.Duration = ramp.DefaultDuration()
	step := DefaultShape(ProfileStep)
	step.Start, step.Steps, step.StepLength, step.Factor = 10*time.Second, 4, 20*time.Second, 5
	step.Duration = step.DefaultDuration()
	constant := DefaultShape(ProfileConstant)
	constant.Duration = constant.DefaultDuration()
	for _, c := range []struct {
		name string
		s    Shape
		t    float64
		want float64
	}{
		{"spike before", spike, 59, 10}, {"spike half-way up", spike, 75, 30}, {"spike at peak", spike, 90, 50},
		{"spike held", spike, 389, 50}, {"spike half-way down", spike, 405, 30}, {"spike after", spike, 421, 10},
		{"spike past its duration", spike, float64(spike.Duration/time.Second) + 1, 0},
		{"ramp before", ramp, 30, 10}, {"ramp half", ramp, 110, 20}, {"ramp top", ramp, 200, 30},
		{"step before", step, 9, 10}, {"step 1", step, 10, 20}, {"step 2", step, 35, 30}, {"step 4", step, 89, 50},
		{"constant", constant, 299, 10},
	} {
		if got := rateAt(c.s, c.t); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: rate at %gs = %g, want %g", c.name, c.t, got, c.want)
		}
	}
	if d := spike.DefaultDuration(); d != 60*time.Second+60*time.Second+300*time.Second+time.Minute {
		t.Errorf("spike default duration %s", d)
	}
	if d := step.DefaultDuration(); d != 90*time.Second {
		t.Errorf("step default duration %s, want 1m30s", d)
	}
}

func TestShapeTrace(t *testing.T) {
	tr, err := sim.ParseTrace(strings.NewReader("time,rps,jobs_per_s\n100,10,1\n110,30,3\n"), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := Shape{Kind: "trace", Trace: tr, Duration: 20 * time.Second}
	for _, c := range []struct{ t, rps, jobs float64 }{{0, 10, 1}, {5, 20, 2}, {10, 30, 3}, {15, 30, 3}} {
		rps, jobs := s.Rates(time.Duration(c.t*float64(time.Second)), 999, 999)
		if math.Abs(rps-c.rps) > 1e-9 || math.Abs(jobs-c.jobs) > 1e-9 {
			t.Errorf("trace at %gs: %g req/s %g jobs/s, want %g %g (the base rates do not apply)", c.t, rps, jobs, c.rps, c.jobs)
		}
	}
	if s.Name() != "trace:t.csv" {
		t.Errorf("name %q", s.Name())
	}
}

func TestShapeValidate(t *testing.T) {
	for _, c := range []struct {
		s    Shape
		want string
	}{
		{Shape{Kind: "sine", Duration: time.Minute}, `--profile "sine"`},
		{Shape{Kind: ProfileConstant}, "--duration"},
		{Shape{Kind: ProfileSpike, Duration: time.Minute, Factor: math.NaN()}, "--factor"},
		{Shape{Kind: ProfileRamp, Duration: time.Minute, Factor: 2}, "--rise"},
		{Shape{Kind: ProfileStep, Duration: time.Minute, Factor: 2}, "--steps"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %s", c.s, err, c.want)
		}
	}
}

// drive runs a pacer as vegeta's attacker does, without sending anything,
// and returns the hit times.
func drive(p vegeta.Pacer) []float64 {
	var hits []float64
	elapsed := time.Duration(0)
	for {
		wait, stop := p.Pace(elapsed, uint64(len(hits)))
		if stop {
			return hits
		}
		if wait == 0 {
			hits = append(hits, elapsed.Seconds())
			continue
		}
		elapsed += wait
	}
}

func TestPacerFollowsTheProfile(t *testing.T) {
	s := DefaultShape(ProfileSpike)
	s.Start, s.Rise, s.Hold, s.Factor, s.Duration = 10*time.Second, 10*time.Second, 20*time.Second, 4, 60*time.Second
	p := newPacer(s.Duration, func(t float64) float64 { return rateAt(s, t) })
	hits := drive(p)
	// 10 s at 10, 10 s rising to 40 (250), 20 s at 40, 10 s down (250), 10 s at 10
	if want := 100 + 250 + 800 + 250 + 100; math.Abs(float64(len(hits)-want)) > 1 {
		t.Errorf("%d hits, want %d", len(hits), want)
	}
	per := make([]int, 60)
	for _, h := range hits {
		per[int(h)]++
	}
	for _, c := range []struct{ sec, want int }{{0, 10}, {5, 10}, {25, 40}, {39, 40}, {55, 10}} {
		if d := per[c.sec] - c.want; d < -1 || d > 1 {
			t.Errorf("second %d: %d hits, want %d", c.sec, per[c.sec], c.want)
		}
	}
	if r := p.Rate(30 * time.Second); r != 40 {
		t.Errorf("Rate(30s) = %g, want 40", r)
	}
}

func TestBurstPacer(t *testing.T) {
	if n := len(drive(burstPacer{25})); n != 25 {
		t.Errorf("burst of 25: %d hits", n)
	}
}

func TestParseMix(t *testing.T) {
	c, err := ParseMix("1s=3, 4s", 8000)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 || c[0].Weight != 3 || c[1].Weight != 1 || c[1].Length != 4*time.Second {
		t.Fatalf("mix: %+v", c)
	}
	// 44-byte header + 2 bytes a sample
	if len(c[0].WAV) != 44+2*8000 || len(c[1].WAV) != 44+2*4*8000 {
		t.Errorf("WAV sizes %d, %d", len(c[0].WAV), len(c[1].WAV))
	}
	p := newPicker(c)
	counts := map[int]int{}
	for i := uint64(0); i < 400; i++ {
		counts[p.pick(i)]++
	}
	if counts[0] != 300 || counts[1] != 100 {
		t.Errorf("picks %v, want 300 and 100", counts)
	}
	for _, bad := range []string{"", "4", "4s=0", "4s=x", "1h"} {
		if _, err := ParseMix(bad, 8000); err == nil || !strings.Contains(err.Error(), "--mix") {
			t.Errorf("--mix %q: error %v", bad, err)
		}
	}
	if _, err := ParseMix("4s", 100); err == nil || !strings.Contains(err.Error(), "--sample-rate") {
		t.Errorf("sample rate 100: %v", err)
	}
}

func TestParseSLO(t *testing.T) {
	for spec, want := range map[string]SLO{
		"p99=500ms": {"p99", 500}, "job-p95=2m": {"job-p95", 120}, "errors=0.5%": {"errors", 0.005}, "errors=0.02": {"errors", 0.02},
	} {
		got, err := ParseSLO(spec)
		if err != nil || got.Key != want.Key || math.Abs(got.Max-want.Max) > 1e-12 {
			t.Errorf("%s: %+v %v, want %+v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"p99", "p98=1s", "p99=fast", "errors=200%", "p99=-1s"} {
		if _, err := ParseSLO(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one echoing the value", bad, err)
		}
	}
}
