package tune

import (
	"context"
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// The budget of issue 12 part 4: 200 candidate settings x a 7-day trace x
// 5 seeds in under 60 s of wall time on 2 cores, both of them used.
const (
	benchCandidates = 200
	benchSeeds      = 5
	benchDays       = 7
	budgetWall      = 60 * time.Second
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// weekTrace is 7 days of a diurnal load with a daily lunch spike, one row
// per 5 minutes, different each day (the base grows 5 % a day).
func weekTrace() *sim.Trace {
	tr := &sim.Trace{Name: "week"}
	for t := 0.0; t <= benchDays*86400; t += 300 {
		h := math.Mod(t/3600, 24)
		m := (0.2 + 3.8*(1-math.Cos(2*math.Pi*(h-4)/24))/2) * (1 + 0.05*math.Floor(t/86400))
		if h >= 12 && h < 12.5 {
			m *= 2
		}
		tr.T, tr.RPS, tr.Jobs = append(tr.T, t), append(tr.RPS, 200*m), append(tr.Jobs, 0.5*m)
	}
	return tr
}

func benchOptions(b *testing.B, candidates, seeds, workers int) Options {
	sp, err := NewSpace(envSet(b, "prod"), 0)
	if err != nil {
		b.Fatal(err)
	}
	ss := make([]uint64, seeds)
	for i := range ss {
		ss[i] = uint64(i + 1)
	}
	return Options{Space: sp, Base: sim.Config{Label: "prod", Params: sim.DefaultParams(), Scenario: sim.TraceScenario(weekTrace())},
		Seeds: ss, Candidates: candidates, SearchSeed: 1, Workers: workers}
}

// BenchmarkTuneOneRun is the reference: one 7-day simulation on one core,
// as the search runs it (summary only, on the seed's arrivals drawn once
// for all the settings, so not timed here). 1000 of them serially is what
// the search would cost without the worker pool.
func BenchmarkTuneOneRun(b *testing.B) {
	o := benchOptions(b, 1, 1, 1)
	cfg := o.Base
	cfg.Set, cfg.Seed, cfg.SampleSeconds = o.Space.Apply(o.Space.Current()), 1, summaryOnly(o.Base)
	arr, err := sim.NewArrivals(cfg, []uint64{cfg.Seed})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Arrivals = arr[0]
	start := cpuTime()
	for b.Loop() {
		if _, err := sim.Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkTune200x7dx5 is the whole search of the budget: 200 settings x
// 7 days x 5 seeds (1000 simulations) on GOMAXPROCS workers. It reports
// wall and CPU seconds (on a shared machine the wall time includes the
// neighbours' load) and fails over 60 s of wall time.
func BenchmarkTune200x7dx5(b *testing.B) { benchTune(b, benchCandidates, true) }

// BenchmarkTune20x7dx5 is a tenth of it (100 simulations), for a loaded
// machine: it reports the wall and CPU time projected to 200 settings.
func BenchmarkTune20x7dx5(b *testing.B) { benchTune(b, benchCandidates/10, false) }

func benchTune(b *testing.B, candidates int, check bool) {
	o := benchOptions(b, candidates, benchSeeds, 0)
	start := cpuTime()
	for b.Loop() {
		s, err := Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if s.Runs != candidates*benchSeeds {
			b.Fatalf("%d runs, want %d", s.Runs, candidates*benchSeeds)
		}
	}
	wall := b.Elapsed() / time.Duration(b.N)
	cpu := (cpuTime() - start) / time.Duration(b.N)
	b.ReportMetric(wall.Seconds(), "wall-s/op")
	b.ReportMetric(cpu.Seconds(), "cpu-s/op")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores-used")
	scale := float64(benchCandidates) / float64(candidates)
	b.ReportMetric(scale*wall.Seconds(), "wall-s/200")
	b.ReportMetric(scale*cpu.Seconds(), "cpu-s/200")
	b.Logf("GOMAXPROCS %d, %d settings x %d seeds: %.1f s wall, %.1f s CPU; for %d settings %.0f s wall, %.0f s CPU (budget %s wall on 2 cores)",
		runtime.GOMAXPROCS(0), candidates, benchSeeds, wall.Seconds(), cpu.Seconds(), benchCandidates, scale*wall.Seconds(), scale*cpu.Seconds(), budgetWall)
	if check && !raceEnabled && wall > budgetWall {
		b.Errorf("%.1f s of wall time for %d x %d days x %d seeds, budget %s", wall.Seconds(), candidates, benchDays, benchSeeds, budgetWall)
	}
}
