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
		{"0,1,1\n10,x,1\n", `load.csv:2: rps "x": want a number`},
		{"0,1,1\n10,1\n", `load.csv:2: want 3 fields (time,rps,jobs_per_s), got 2: "10,1"`},
		{"0,1,1\n10,1,1\n10,2,2\n", `load.csv:3: time "10" is not after the previous row's 10`},
		{"time,rps,jobs_per_s\n", "load.csv: no rows"},
		{"t,r,j\n", `load.csv:1: header: column "r": want time, rps or jobs_per_s`},
		{"time,rps,rps\n", `load.csv:1: header: column "rps": rps given twice`},
		{"rps,jobs\n1,1\n", `load.csv:1: header: no time column`},
		{"0,1,-1\n", `load.csv:1: jobs_per_s "-1": want a number >= 0`},
		{"0,NaN,1\n", `load.csv:1: rps "NaN": want a finite number`},
		{"0,1,+Inf\n", `load.csv:1: jobs_per_s "+Inf": want a finite number`},
		{"1764547200,1,1\n60,1,1\n", `load.csv:2: time "60" is not after the previous row's 1.7645472e+09`},
		{"0,1,\"1\n", "load.csv:1:"},
	} {
		_, err := ParseTrace(strings.NewReader(c.in), "load.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

// Columns by header name in any order, a missing rate column as 0, and a
// trace of Unix times rebased to start at 0 with a note.
func TestParseTraceHeaderAndEpoch(t *testing.T) {
	tr, err := ParseTrace(strings.NewReader("jobs_per_s, Time ,rps\n2,1764547200,100\n4,1764547260,300\n"), "prom.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr.T[0] != 0 || tr.T[1] != 60 || tr.RPS[1] != 300 || tr.Jobs[0] != 2 {
		t.Errorf("got %v %v %v", tr.T, tr.RPS, tr.Jobs)
	}
	if n := strings.Join(tr.Notes, "\n"); !strings.Contains(n, "rebased: its first row (line 2), at Unix time 1.7645472e+09 (2025-12-01T00:00:00Z), is t=0") {
		t.Errorf("notes %q", n)
	}
	tr, err = ParseTrace(strings.NewReader("time,rps\n30,100\n90,200\n"), "late.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr.End() != 60 || tr.Jobs[1] != 0 || !strings.Contains(strings.Join(tr.Notes, " "), "rebased: its first row (line 2), at 30 s, is t=0") {
		t.Errorf("end %v jobs %v notes %q", tr.End(), tr.Jobs, tr.Notes)
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
