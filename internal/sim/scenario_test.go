package sim

import (
	"math"
	"strings"
	"testing"
)

func TestScenarioShapes(t *testing.T) {
	p := DefaultParams()
	rate := func(name string, at float64) float64 {
		s, err := LookupScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		rps, _ := s.rates(at, &p)
		return rps / p.Gateway.BaseRPS
	}
	for _, c := range []struct {
		name   string
		at     float64
		factor float64
	}{
		{"steady", 1000, 1},
		{"spike", 299, 1}, {"spike", 315, 3}, {"spike", 330, 5}, {"spike", 1230, 5}, {"spike", 1260, 1},
		{"ramp", 300, 1}, {"ramp", 1200, 3}, {"ramp", 2100, 5}, {"ramp", 3500, 5},
		{"diurnal", 4 * hour, 0.2}, {"diurnal", 16 * hour, 4},
		{"flash-crowd", 310, 8}, {"flash-crowd", 310 + 900, 1 + 7/math.E},
		{"queue-burst", 400, 1},
	} {
		if got := rate(c.name, c.at); math.Abs(got-c.factor) > 1e-9 {
			t.Errorf("%s at %v s: %vx, want %vx", c.name, c.at, got, c.factor)
		}
	}
	if s, _ := LookupScenario("queue-burst"); s.BurstJobs != 10000 {
		t.Errorf("burst of %d jobs", s.BurstJobs)
	}
	if _, err := LookupScenario("tsunami"); err == nil || !strings.Contains(err.Error(), "diurnal") {
		t.Errorf("got %v", err)
	}
}

func TestJobQueue(t *testing.T) {
	q := newJobQueue()
	q.buf = make([]bucket, 2) // force growth
	q.push(1, 2)
	q.push(1, 1)
	q.push(3, 1)
	q.push(4, 1)
	if q.depth != 5 || q.oldestAge(10) != 9 {
		t.Fatalf("depth %d age %d", q.depth, q.oldestAge(10))
	}
	q.pushFront(0)
	want := []int64{0, 1, 1, 1, 3, 4}
	for _, w := range want {
		if a, ok := q.pop(); !ok || a != w {
			t.Fatalf("pop %d %v, want %d", a, ok, w)
		}
	}
	if _, ok := q.pop(); ok || q.depth != 0 || q.oldestAge(10) != 0 {
		t.Fatal("queue not empty")
	}
}

func TestPrometheusRate(t *testing.T) {
	var p pod
	for ts := int64(0); ts <= 300; ts += 15 {
		p.reqTotal = float64(ts) * 10
		p.pushProm(ts)
	}
	if v, last, ok := p.rate(300, 120); !ok || v != 10 || last != 300 {
		t.Errorf("rate %v last %d ok %v", v, last, ok)
	}
	var fresh pod
	fresh.pushProm(100)
	if _, _, ok := fresh.rate(110, 120); ok {
		t.Error("one sample gave a rate")
	}
}
