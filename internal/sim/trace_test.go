package sim

import (
	"strings"
	"testing"
)

func TestParseTrace(t *testing.T) {
	tr, err := ParseTrace(strings.NewReader("time,rps,jobs\n# comment\n0,100,1\n60,400,2\n"), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ t, rps, jobs float64 }{{0, 100, 1}, {30, 250, 1.5}, {60, 400, 2}, {90, 400, 2}} {
		rps, jobs := tr.at(c.t)
		if rps != c.rps || jobs != c.jobs {
			t.Errorf("at %v: %v %v, want %v %v", c.t, rps, jobs, c.rps, c.jobs)
		}
	}
	if tr.End() != 60 {
		t.Errorf("end %v", tr.End())
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0,1,1\n10,x,1\n", `load.csv:2: req/s "x": want a number >= 0`},
		{"0,1,1\n10,1\n", "load.csv:2: want 3 fields"},
		{"0,1,1\n10,1,1\n10,2,2\n", "load.csv:3: time 10 is not after the previous row's 10"},
		{"t,r,j\n", "load.csv: no rows"},
		{"0,1,-1\n", `load.csv:1: jobs/s "-1"`},
		{"0,1,\"1\n", "load.csv:1:"},
	} {
		_, err := ParseTrace(strings.NewReader(c.in), "load.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTraceScenarioRuns(t *testing.T) {
	tr, err := ParseTrace(strings.NewReader("0,200,0.5\n600,1200,3\n1200,200,0.5\n"), "ramp.csv")
	if err != nil {
		t.Fatal(err)
	}
	r := simulate(t, "prod", "steady", 1, func(c *Config) { c.Scenario = TraceScenario(tr) })
	if r.Duration != 1200 || r.Deployments[0].Summary.PeakReplicas <= 3 {
		t.Errorf("duration %d, gateway peak %d", r.Duration, r.Deployments[0].Summary.PeakReplicas)
	}
	// The trace keeps a cursor; a second run must start over.
	r2 := simulate(t, "prod", "steady", 1, func(c *Config) { c.Scenario = TraceScenario(tr) })
	if r2.Deployments[0].Summary != r.Deployments[0].Summary {
		t.Error("a second run of the same trace differs")
	}
}
