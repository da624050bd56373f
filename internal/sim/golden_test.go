package sim

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"testing"

	"github.com/voiceassist/autoscaling/internal/testenv"
)

// update rewrites the golden files: go test ./internal/sim/ -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenWeekTrace is the 7-day trace of internal/tune's benchmarks (a
// diurnal 0.2-4x with a daily lunch spike, the base growing 5 % a day),
// one row per 5 minutes.
func goldenWeekTrace() *Trace {
	tr := &Trace{Name: "week"}
	for t := 0.0; t <= 7*day; t += 300 {
		h := math.Mod(t/3600, 24)
		m := (0.2 + 3.8*(1-math.Cos(2*math.Pi*(h-4)/24))/2) * (1 + 0.05*math.Floor(t/86400))
		if h >= 12 && h < 12.5 {
			m *= 2
		}
		tr.T, tr.RPS, tr.Jobs = append(tr.T, t), append(tr.RPS, 200*m), append(tr.Jobs, 0.5*m)
	}
	return tr
}

// goldenCase is one configuration run under a few seeds.
type goldenCase struct {
	name  string
	seeds []uint64
	// week: the 7-day trace at the search's hourly timeline (long under -race)
	week bool
	cfg  func(t *testing.T) Config
}

func goldenCases() []goldenCase {
	scenario := func(name string, edit func(*testing.T, *Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := Config{Label: "prod", Set: envSet(t, "prod"), Params: DefaultParams(), Scenario: mustScenario(t, name), SampleSeconds: 60}
			if edit != nil {
				edit(t, &c)
			}
			return c
		}
	}
	return []goldenCase{
		// the measured worker: the gateway scales, the worker does not
		{name: "spike", seeds: []uint64{1, 2, 3}, cfg: scenario("spike", nil)},
		// a worker that must scale, and the queue burst that fills its queue
		{name: "spike-heavy", seeds: []uint64{1, 2}, cfg: scenario("spike", func(_ *testing.T, c *Config) { heavyJobs(c) })},
		{name: "queue-burst-heavy", seeds: []uint64{1}, cfg: scenario("queue-burst", func(_ *testing.T, c *Config) { heavyJobs(c) })},
		// a ResourceQuota that holds pods back
		{name: "spike-quota12", seeds: []uint64{1}, cfg: scenario("spike", func(t *testing.T, c *Config) { c.Set = withQuota(c.Set, "12") })},
		// OOM restarts of the worker
		{name: "spike-oom", seeds: []uint64{1}, cfg: scenario("spike", func(t *testing.T, c *Config) {
			heavyJobs(c)
			c.Set = withResources(c.Set, WorkerName, 1, 0.25)
			c.Params.Worker.MemoryMiPerJob = 400
		})},
		// exact arrivals instead of Poisson draws
		{name: "replay", seeds: []uint64{1}, cfg: scenario("steady", func(t *testing.T, c *Config) {
			reqs, jobs := make([]int64, 1800), make([]int64, 1800)
			for i := range reqs {
				reqs[i] = int64(100 + 50*(i/300))
				if i%120 == 0 {
					jobs[i] = 40
				}
			}
			sc, err := ReplayScenario(&Replay{Name: "golden", Requests: reqs, Jobs: jobs})
			if err != nil {
				t.Fatal(err)
			}
			heavyJobs(c)
			c.Scenario = sc
		})},
		// what a tune search runs: 7 days, summary and an hourly timeline
		{name: "week", seeds: []uint64{1, 2, 3}, week: true, cfg: func(t *testing.T) Config {
			return Config{Label: "prod", Set: envSet(t, "prod"), Params: DefaultParams(), Scenario: TraceScenario(goldenWeekTrace()), SampleSeconds: 3600}
		}},
	}
}

// The simulator's results are pinned exactly: whole results (summary,
// scale events, timeline) of representative runs are compared byte for
// byte with testdata/golden-*.json, so that a change meant to make the
// simulator faster cannot change a figure. A change that is meant to
// change the results rewrites them with -update, and the diff shows what
// moved.
func TestGoldenResults(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			if gc.week && raceEnabled && len(gc.seeds) > 1 {
				gc.seeds = gc.seeds[:1] // a 7-day run takes seconds under -race; one seed checks the same code
			}
			cfg := gc.cfg(t)
			// and the same runs given their arrivals drawn beforehand, as a search shares them
			shared, err := NewArrivals(cfg, gc.seeds)
			if err != nil {
				t.Fatal(err)
			}
			for k, seed := range gc.seeds {
				for _, arr := range []*Arrivals{nil, shared[k]} {
					cfg.Seed, cfg.Arrivals = seed, arr
					r, err := Simulate(cfg)
					if err != nil {
						t.Fatal(err)
					}
					// the parameters' provenance (the calibration's command line) is not a figure
					r.Params.Profile = Profile{}
					got, err := json.MarshalIndent(r, "", "  ")
					if err != nil {
						t.Fatal(err)
					}
					compareGolden(t, fmt.Sprintf("golden-%s-seed%d.json", gc.name, seed), append(got, '\n'))
				}
			}
		})
	}
}

// The timeline at 1 s is too large to keep whole; its SHA-256 pins it.
func TestGoldenSpikeTimeline1s(t *testing.T) {
	cfg := Config{Label: "prod", Set: envSet(t, "prod"), Params: DefaultParams(), Scenario: mustScenario(t, "spike"), Seed: 1}
	heavyJobs(&cfg)
	r, err := Simulate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.SampleSeconds != 1 {
		t.Fatalf("sample %d s, want 1", r.SampleSeconds)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "golden-spike-heavy-1s.sha256", fmt.Appendf(nil, "%x\n", sha256.Sum256(b)))
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.CompareGolden(t, name, got, *update)
}

// Arrivals drawn for another run are refused, not silently used.
func TestArrivalsMustFit(t *testing.T) {
	cfg := Config{Label: "prod", Set: envSet(t, "prod"), Params: DefaultParams(), Scenario: mustScenario(t, "spike"), Seed: 1}
	arr, err := NewArrivals(cfg, []uint64{2})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Arrivals = arr[0]
	if _, err := Simulate(cfg); err == nil {
		t.Error("a run of seed 1 took the arrivals of seed 2")
	}
	cfg.Seed, cfg.Duration = 2, 600
	if _, err := Simulate(cfg); err == nil {
		t.Error("a 600 s run took the arrivals of a 1 h one")
	}
}

// periodic falls on exactly the seconds the modulo test picks, for any
// start, period and phase (a phase may exceed its period).
func TestPeriodicIsModulo(t *testing.T) {
	for _, from := range []int64{-900, -7, 0, 3} {
		for every := int64(1); every <= 31; every += 3 {
			for _, phase := range []int64{0, 1, 5, 10, 29, 61} {
				p := newPeriodic(from, every, phase)
				for s := from; s < from+200; s++ {
					if got, want := p.due(s), mod(s, every) == phase%every; got != want {
						t.Fatalf("from %d every %d phase %d: due(%d) = %v, want %v", from, every, phase, s, got, want)
					}
				}
			}
		}
	}
}
