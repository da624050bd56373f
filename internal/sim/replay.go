package sim

import "fmt"

// Replay is load that was really sent, second by second: what a `vactl
// loadtest` run offered. Unlike a trace, whose rates are drawn from as
// Poisson arrivals, a replay's counts are the arrivals themselves, so the
// simulation sees the very requests and jobs of the measured run (a burst
// of 400 jobs is 400 jobs in the seconds they were accepted).
type Replay struct {
	// Name says where the load comes from (a report file).
	Name string
	// Requests[t] and Jobs[t] are the requests and jobs that arrived in
	// second t; the shorter one is padded with zeros.
	Requests, Jobs []int64
}

// ReplayScenario replays r; its duration is r's length. Before t=0 (the
// warm-up) there is no load, as before the measured run.
func ReplayScenario(r *Replay) (Scenario, error) {
	n := max(len(r.Requests), len(r.Jobs))
	if n == 0 {
		return Scenario{}, fmt.Errorf("replay %s: no seconds of load", r.Name)
	}
	for _, s := range []struct {
		what string
		v    []int64
	}{{"requests", r.Requests}, {"jobs", r.Jobs}} {
		for t, v := range s.v {
			if v < 0 {
				return Scenario{}, fmt.Errorf("replay %s: second %d: %d %s, want 0 or more", r.Name, t, v, s.what)
			}
		}
	}
	c := *r
	return Scenario{Name: "replay:" + r.Name, Duration: int64(n), Help: "replay of " + r.Name, replay: &c}, nil
}

// arrivals are the requests and jobs of second t (none before 0 or after the end).
func (r *Replay) arrivals(t int64) (reqs, jobs int64) {
	if t >= 0 && t < int64(len(r.Requests)) {
		reqs = r.Requests[t]
	}
	if t >= 0 && t < int64(len(r.Jobs)) {
		jobs = r.Jobs[t]
	}
	return reqs, jobs
}

// Phases place the periodic activities within their periods (seconds,
// modulo each period): when metrics-server scrapes, when Prometheus scrapes
// and when the HPA controller syncs. On a cluster they fall where the
// processes happened to start; to compare with a measured run, take them
// from it (internal/fidelity does).
type Phases struct {
	MetricsServer, Scrape, Sync int64
}

// DefaultPhases spread the activities so they do not fall on one second:
// metrics-server at 0, Prometheus at 5, the HPA sync at 10.
func DefaultPhases() Phases { return Phases{MetricsServer: 0, Scrape: scrapePhase, Sync: syncPhase} }
