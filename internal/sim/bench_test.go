package sim

import (
	"testing"
)

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
	for b.Loop() {
		if _, err := Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(30*day+cfg.Params.Run.WarmupSeconds), "ns/step")
}

// BenchmarkSimulateSpike is what `vactl simulate --env prod --scenario spike`
// simulates: 1 h plus the 15 min warm-up, timeline at 1 s.
func BenchmarkSimulateSpike(b *testing.B) {
	set := envSet(b, "prod")
	sc, err := LookupScenario("spike")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Label: "prod", Set: set, Params: DefaultParams(), Scenario: sc, Seed: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(hour+cfg.Params.Run.WarmupSeconds), "ns/step")
}
