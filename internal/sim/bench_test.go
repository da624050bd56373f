package sim

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// Budgets (issue: "Speed"): 30 simulated days of both HPAs within 2 s of one
// core, and a 10-seed spike run within 1 s. The benchmarks fail over budget
// (not under -race, which is several times slower by design). Run them with
// -cpu 1: the simulation is single-threaded.
const (
	budget30Days      = 2 * time.Second
	budgetSpikeSeeds  = time.Second
	spikeSeedsInBench = 10
)

// cpuTime is the process's user+system CPU time. The budgets are CPU time
// ("2 s of one core"): on a shared machine wall time measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// budget reports CPU seconds per op and fails a run over budget.
type budget struct {
	b     *testing.B
	limit time.Duration
	start time.Duration
}

func startBudget(b *testing.B, limit time.Duration) *budget {
	return &budget{b: b, limit: limit, start: cpuTime()}
}

func (bg *budget) check() {
	b := bg.b
	b.Helper()
	per := (cpuTime() - bg.start) / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "cpu-s/op")
	if !raceEnabled && per > bg.limit {
		b.Errorf("%v of CPU per run, budget %v", per, bg.limit)
	}
}

// BenchmarkSimulate30Days runs 30 simulated days of the diurnal scenario on
// prod: both HPAs, every metric, 2,592,000 one-second steps per run.
func BenchmarkSimulate30Days(b *testing.B) {
	set := envSet(b, "prod")
	sc, err := LookupScenario("diurnal")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Label: "prod", Set: set, Params: DefaultParams(), Scenario: sc, Duration: 30 * day, Seed: 1}
	b.ReportAllocs()
	bg := startBudget(b, budget30Days)
	for b.Loop() {
		if _, err := Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(30*day+cfg.Params.Run.WarmupSeconds), "ns/step")
	bg.check()
}

// BenchmarkSimulateSpike is what `vactl simulate --env prod --scenario spike`
// simulates: 1 h plus the 15 min warm-up, timeline at 1 s. It is the
// reference of BenchmarkSimulateSpikeSeeds10.
func BenchmarkSimulateSpike(b *testing.B) {
	set := envSet(b, "prod")
	sc, err := LookupScenario("spike")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Label: "prod", Set: set, Params: DefaultParams(), Scenario: sc, Seed: 1}
	b.ReportAllocs()
	bg := startBudget(b, budgetSpikeSeeds)
	for b.Loop() {
		if _, err := Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(hour+cfg.Params.Run.WarmupSeconds), "ns/step")
	bg.check()
}

// BenchmarkSimulateSpikeSeeds10 is the simulation part of `vactl simulate
// --env prod --scenario spike --seeds 10`: ten seeds, their statistics and
// the text report (the CLI adds the kustomize build, ~50 ms).
func BenchmarkSimulateSpikeSeeds10(b *testing.B) {
	set := envSet(b, "prod")
	sc, err := LookupScenario("spike")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Label: "prod", Set: set, Params: DefaultParams(), Scenario: sc}
	b.ReportAllocs()
	bg := startBudget(b, budgetSpikeSeeds)
	for b.Loop() {
		runs := make([]*Result, spikeSeedsInBench)
		for k := range runs {
			cfg.Seed = uint64(1 + k)
			if runs[k], err = Simulate(cfg); err != nil {
				b.Fatal(err)
			}
		}
		if err := WriteText(io.Discard, &Report{Configs: [][]*Result{runs}}); err != nil {
			b.Fatal(err)
		}
	}
	bg.check()
}
