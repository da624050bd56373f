package sim

import "testing"

// A replay's counts are the arrivals: a burst of 300 jobs in second 2 puts
// exactly 300 jobs on the queue (no Poisson draw), nothing arrives in the
// warm-up, and every job is done by the end.
func TestReplayExactArrivals(t *testing.T) {
	jobs := make([]int64, 900)
	jobs[2] = 300
	sc, err := ReplayScenario(&Replay{Name: "burst", Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Duration != 900 {
		t.Errorf("duration %d, want the replay's 900 s", sc.Duration)
	}
	for _, seed := range []uint64{1, 2} {
		r := simulate(t, "prod", "steady", seed, withHeavyJobs(func(c *Config) { c.Scenario = sc }))
		w := r.Deployments[1]
		if w.Summary.Completed != 300 || w.Summary.QueuedAtEnd != 0 {
			t.Errorf("seed %d: %d jobs completed, %d queued at the end: want exactly the 300 replayed", seed, w.Summary.Completed, w.Summary.QueuedAtEnd)
		}
		if w.Timeline[1].Depth != 0 || w.Timeline[2].Depth < 290 {
			t.Errorf("seed %d: depth %v at 1 s and %v at 2 s: want 0, then the burst", seed, w.Timeline[1].Depth, w.Timeline[2].Depth)
		}
		if r.Deployments[0].Summary.Served != 0 {
			t.Errorf("seed %d: the gateway served %v requests; the replay sent none", seed, r.Deployments[0].Summary.Served)
		}
	}
	if _, err := ReplayScenario(&Replay{Name: "bad", Jobs: []int64{1, -1}}); err == nil {
		t.Error("a negative count was accepted")
	}
	if _, err := ReplayScenario(&Replay{Name: "empty"}); err == nil {
		t.Error("an empty replay was accepted")
	}
}

// The HPA syncs at Phases.Sync (mod the sync period): shifting the phase
// shifts the first scale event of a burst by as much.
func TestPhasesMoveTheSync(t *testing.T) {
	jobs := make([]int64, 600)
	jobs[1] = 2000
	sc, err := ReplayScenario(&Replay{Name: "burst", Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	first := func(ph *Phases) int64 {
		r := simulate(t, "prod", "steady", 1, func(c *Config) { c.Scenario, c.Phases = sc, ph })
		ev := r.Deployments[1].Events
		if len(ev) == 0 {
			t.Fatalf("phases %+v: no worker scale event after a 2000-job burst", ph)
		}
		return ev[0].T
	}
	def := first(nil)
	if def%15 != syncPhase {
		t.Errorf("first event at %d s: want a sync second (%d mod 15) with the default phases", def, syncPhase)
	}
	moved := first(&Phases{MetricsServer: 3, Scrape: 8, Sync: 13})
	if moved != def+3 {
		t.Errorf("phases +3 s: first event at %d s, want %d", moved, def+3)
	}
	if _, err := New(Config{Set: envSet(t, "prod"), Params: DefaultParams(), Scenario: sc, Phases: &Phases{Sync: -1}}); err == nil {
		t.Error("a negative phase was accepted")
	}
}
