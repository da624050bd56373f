package tune

import (
	"context"
	"math"
	"testing"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
)

func envSet(t testing.TB, env string) *kube.Set {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return onCluster(t, src, env)
}

func spikeSearch(t *testing.T, maxStep float64, candidates int) *Search {
	t.Helper()
	sp, err := NewSpace(envSet(t, "prod"), maxStep)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.LookupScenario("spike")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), Options{Space: sp, Base: sim.Config{Label: "prod", Params: sim.DefaultParams(), Scenario: sc},
		Seeds: []uint64{1, 2, 3}, Candidates: candidates, SearchSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The front is non-dominated and sorted, every point is a pair of
// evaluated parts, the current setting is on it or dominated by a point of
// it, and each pick is no worse than the current settings on both
// objectives. A combined point's figures are what simulating that whole
// setting gives, seed by seed: the per-deployment independence the front
// relies on.
func TestSearchFront(t *testing.T) {
	s := spikeSearch(t, 0, 40)
	if s.Runs != len(s.Evaluated)*3 || len(s.Evaluated) != 40 {
		t.Fatalf("%d runs of %d settings, want 40 settings x 3 seeds", s.Runs, len(s.Evaluated))
	}
	if len(s.Front) == 0 {
		t.Fatal("empty front")
	}
	for i, p := range s.Front {
		for j, q := range s.Front {
			if i != j && q.SLOSeconds.Mean <= p.SLOSeconds.Mean && q.PodHours.Mean <= p.PodHours.Mean {
				t.Errorf("front point %d (%.0f s, %.2f ph) is dominated by %d (%.0f s, %.2f ph)", i, p.SLOSeconds.Mean, p.PodHours.Mean, j, q.SLOSeconds.Mean, q.PodHours.Mean)
			}
		}
		if i > 0 && p.SLOSeconds.Mean < s.Front[i-1].SLOSeconds.Mean {
			t.Errorf("front not sorted by SLO seconds at %d", i)
		}
	}
	cur := s.Current
	covered := false
	for _, p := range s.Front {
		covered = covered || (p.SLOSeconds.Mean <= cur.SLOSeconds.Mean && p.PodHours.Mean <= cur.PodHours.Mean)
	}
	if !covered {
		t.Errorf("no front point is at least as good as the current (%.0f s, %.2f ph)", cur.SLOSeconds.Mean, cur.PodHours.Mean)
	}
	for _, pref := range []Prefer{PreferCost, PreferSLO, PreferBalanced} {
		p, err := s.Pick(pref, Budget{})
		if err != nil {
			t.Fatal(err)
		}
		if p.SLOSeconds.Mean > cur.SLOSeconds.Mean || p.PodHours.Mean > cur.PodHours.Mean {
			t.Errorf("%s pick (%.0f s, %.2f ph) is worse than the current (%.0f s, %.2f ph)", pref, p.SLOSeconds.Mean, p.PodHours.Mean, cur.SLOSeconds.Mean, cur.PodHours.Mean)
		}
	}
	cost, err := s.Pick(PreferCost, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	slo, err := s.Pick(PreferSLO, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if cost.PodHours.Mean > slo.PodHours.Mean || slo.SLOSeconds.Mean > cost.SLOSeconds.Mean {
		t.Errorf("cost pick (%.0f s, %.2f ph) and slo pick (%.0f s, %.2f ph) are not ordered", cost.SLOSeconds.Mean, cost.PodHours.Mean, slo.SLOSeconds.Mean, slo.PodHours.Mean)
	}

	// A front point whose parts come from different runs, simulated whole.
	var mixed *Point
	for i := range s.Front {
		if s.Front[i].Gateway != s.Front[i].Worker {
			mixed = &s.Front[i]
			break
		}
	}
	if mixed == nil {
		t.Fatal("no front point combines two runs' parts")
	}
	sc := spikeScenario(t)
	runs, err := Simulate(context.Background(), s.Space, sim.Config{Params: sim.DefaultParams(), Scenario: sc}, s.Seeds, 0, []string{"mixed"}, s.Setting(*mixed))
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range runs[0] {
		slo := float64(r.Deployments[0].Summary.SLOSeconds + r.Deployments[1].Summary.SLOSeconds)
		ph := r.Deployments[0].Summary.PodHours + r.Deployments[1].Summary.PodHours
		eg, ew := s.Evaluated[mixed.Gateway].Summaries, s.Evaluated[mixed.Worker].Summaries
		if want := float64(eg[0][k].SLOSeconds + ew[1][k].SLOSeconds); slo != want {
			t.Errorf("seed %d: the whole setting has %v SLO seconds, its parts %v", s.Seeds[k], slo, want)
		}
		if want := eg[0][k].PodHours + ew[1][k].PodHours; math.Abs(ph-want) > 1e-9 {
			t.Errorf("seed %d: the whole setting has %v pod-hours, its parts %v", s.Seeds[k], ph, want)
		}
	}
}

// spikeScenario is the simulator's spike scenario.
func spikeScenario(t *testing.T) sim.Scenario {
	t.Helper()
	sc, err := sim.LookupScenario("spike")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}
