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
