package check

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// prodRule is the PrometheusRule prod renders.
func prodRule(t *testing.T) monitoringv1.PrometheusRule {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env("prod")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.Objects(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() == "PrometheusRule" {
			var r monitoringv1.PrometheusRule
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatal("prod renders no PrometheusRule")
	return monitoringv1.PrometheusRule{}
}

// startPrometheusWith starts a real Prometheus with groups as its rule
// file, as the Prometheus Operator would write it from the PrometheusRule.
func startPrometheusWith(t *testing.T, groups []monitoringv1.RuleGroup) *testenv.Prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "voiceassist.rules.yaml")
	if err := os.WriteFile(file, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	return testenv.StartPrometheus(t, []byte("global: {evaluation_interval: 1s}\nrule_files: ["+file+"]\n"))
}

// TestMonitoringAgainstPrometheus asks a real Prometheus's rules API
// (client_golang) which of our alerts it has loaded.
func TestMonitoringAgainstPrometheus(t *testing.T) {
	rule := prodRule(t)
	in := healthy(t)
	in.LiveRules = []monitoringv1.PrometheusRule{rule}

	p := startPrometheusWith(t, rule.Spec.Groups)
	in.Prometheus = loadedRules(context.Background(), p.URL)
	expect(t, in, IDMonitoring, Pass, "has loaded all "+strconv.Itoa(len(alertNames(&rule)))+" alerts")

	// A Prometheus that selected only part of it (one group's rules cut).
	partial := rule.DeepCopy()
	g := &partial.Spec.Groups[0]
	dropped := g.Rules[0].Alert
	g.Rules = g.Rules[1:]
	p2 := startPrometheusWith(t, partial.Spec.Groups)
	in.Prometheus = loadedRules(context.Background(), p2.URL)
	expect(t, in, IDMonitoring, Fail, "has not loaded 1 of our "+strconv.Itoa(len(alertNames(&rule)))+" alerts: "+dropped)

	// Nothing listens there.
	in.Prometheus = loadedRules(context.Background(), "http://127.0.0.1:1")
	expect(t, in, IDMonitoring, Unknown, "http://127.0.0.1:1")
}
