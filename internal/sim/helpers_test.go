package sim

import (
	"sync"
	"testing"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

var (
	setsMu sync.Mutex
	sets   = map[string]*kube.Set{}
)

// envSet renders one environment of the embedded manifests (cached).
func envSet(tb testing.TB, env string) *kube.Set {
	tb.Helper()
	setsMu.Lock()
	defer setsMu.Unlock()
	if s, ok := sets[env]; ok {
		return s
	}
	src, err := render.Embedded()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := src.EnvOnCluster(env)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := kube.FromResMap(m)
	if err != nil {
		tb.Fatal(err)
	}
	sets[env] = s
	return s
}

// simulate runs a built-in scenario on an environment.
func simulate(tb testing.TB, env, scenario string, seed uint64, edit func(*Config)) *Result {
	tb.Helper()
	sc, err := LookupScenario(scenario)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Label: env, Set: envSet(tb, env), Params: DefaultParams(), Scenario: sc, Seed: seed}
	if edit != nil {
		edit(&cfg)
	}
	r, err := Simulate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// heavyJobs replaces the measured worker (jobs of a fraction of a second,
// internal/sim/profile.yaml) with jobs of 4 s, 2 at a time at 400m each —
// a heavier model, as the e2e's --simulate-work makes the real worker — so
// that the tests of the queue and the worker HPA have a worker that must
// scale: with the measured jobs two prod workers serve every scenario's
// job rate without scaling.
func heavyJobs(c *Config) {
	w := &c.Params.Worker
	w.Concurrency, w.JobMeanSeconds, w.JobCV, w.CPUPerJob = 2, 4, 0.5, 400
	w.IdleCPU, w.BaseMemoryMi, w.MemoryMiPerJob = 50, 300, 200
}

// withHeavyJobs is heavyJobs, then edit.
func withHeavyJobs(edit func(*Config)) func(*Config) {
	return func(c *Config) {
		heavyJobs(c)
		if edit != nil {
			edit(c)
		}
	}
}
