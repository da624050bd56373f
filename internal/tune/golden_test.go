package tune

import (
	"context"
	"encoding/json"
	"flag"
	"testing"

	"github.com/voiceassist/autoscaling/internal/sim"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// update rewrites the golden files: go test ./internal/tune/ -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenSearch is what a search found, every number of it: each evaluated
// setting with its summaries under every seed, the current point and the
// front.
type goldenSearch struct {
	Seeds     []uint64          `json:"seeds"`
	Runs      int               `json:"runs"`
	Evaluated []goldenEvaluated `json:"evaluated"`
	Current   Point             `json:"current"`
	Front     []Point           `json:"front"`
}

type goldenEvaluated struct {
	Evaluated
	Summaries [2][]sim.Summary `json:"summaries"`
}

func goldenOf(s *Search) goldenSearch {
	g := goldenSearch{Seeds: s.Seeds, Runs: s.Runs, Current: s.Current, Front: s.Front}
	for _, e := range s.Evaluated {
		g.Evaluated = append(g.Evaluated, goldenEvaluated{Evaluated: e, Summaries: e.Summaries})
	}
	return g
}

// A search's results are pinned exactly (testdata/golden-*.json), so that
// making the simulator or the search faster cannot change what it finds:
// the spike scenario with 12 candidates x 3 seeds, and the benchmarks'
// 7-day trace with 6 candidates x 2 seeds (not under -race, where it takes
// minutes; the spike search runs the same code there).
func TestGoldenSearch(t *testing.T) {
	sp, err := NewSpace(envSet(t, "prod"), 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		scenario   sim.Scenario
		candidates int
		seeds      []uint64
		long       bool
	}{
		{"spike", spikeScenario(t), 12, []uint64{1, 2, 3}, false},
		{"week", sim.TraceScenario(weekTrace()), 6, []uint64{1, 2}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.long && raceEnabled {
				t.Skip("7-day runs under -race")
			}
			s, err := Run(context.Background(), Options{Space: sp, Base: sim.Config{Label: "prod", Params: sim.DefaultParams(), Scenario: c.scenario},
				Seeds: c.seeds, Candidates: c.candidates, SearchSeed: 1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(goldenOf(s), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, "golden-search-"+c.name+".json", append(got, '\n'))
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.CompareGolden(t, name, got, *update)
}
