package k8s_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/docs"
)

// The alerts' runbook, relative to this package (k8s/) and, in runbook_url,
// to the repository root.
const (
	runbookFile = "../docs/runbook.md"
	runbookURL  = "docs/runbook.md"
	alertsTests = "testdata/alerts-test.yaml"
)

// alertRules renders env and returns its one PrometheusRule.
func alertRules(t *testing.T, env string) *monitoringv1.PrometheusRule {
	t.Helper()
	_, set := build(t, env)
	if len(set.PrometheusRules) != 1 {
		t.Fatalf("%s renders %d PrometheusRules, want 1 (components/monitoring/prometheusrule.yaml)", env, len(set.PrometheusRules))
	}
	return set.PrometheusRules[0]
}

// ruleFile writes the rule groups as a Prometheus rule file, which is what
// the Prometheus Operator generates from a PrometheusRule's spec.
func ruleFile(t *testing.T, dir string, groups []monitoringv1.RuleGroup) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not on PATH: run scripts/setup-debian.sh (Debian's prometheus package)")
	}
	return p
}

// TestAlertRules: the PrometheusRule that staging and prod render is valid
// for `promtool check rules`, and passes the unit tests in
// testdata/alerts-test.yaml under `promtool test rules`. The unit tests
// really test: a rule file with one threshold moved fails them.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	// Only the environments with the monitoring component (and so the
	// Prometheus Operator CRDs) carry the rule: the base has none.
	if _, set := build(t, "base"); len(set.PrometheusRules) != 0 {
		t.Errorf("base renders a PrometheusRule, but its cluster need not have the CRD")
	}
	prod := alertRules(t, "prod")
	for _, env := range []string{"dev", "staging"} {
		if other := alertRules(t, env); !reflect.DeepEqual(other.Spec, prod.Spec) {
			t.Errorf("%s's alert rules differ from prod's; the unit tests cover prod's only", env)
		}
	}
	dir := t.TempDir()
	file := ruleFile(t, dir, prod.Spec.Groups)
	if out, err := exec.Command(pt, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	tests, err := os.ReadFile(alertsTests)
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, "alerts-test.yaml")
	if err := os.WriteFile(testFile, tests, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "test", "rules", testFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", alertsTests, err, out)
	}

	// A control: the queue-age threshold moved from 60 s to 600 s must fail
	// the unit tests, or they prove nothing.
	broken := prod.DeepCopy()
	moved := false
	for gi := range broken.Spec.Groups {
		for ri := range broken.Spec.Groups[gi].Rules {
			r := &broken.Spec.Groups[gi].Rules[ri]
			if r.Alert == "VoiceAssistQueueJobAgeHigh" {
				s := r.Expr.String()
				r.Expr.StrVal = strings.Replace(s, "> 60", "> 600", 1)
				moved = r.Expr.StrVal != s
			}
		}
	}
	if !moved {
		t.Fatal("control: VoiceAssistQueueJobAgeHigh has no '> 60' to move")
	}
	ruleFile(t, dir, broken.Spec.Groups)
	if err := exec.Command(pt, "test", "rules", testFile).Run(); err == nil {
		t.Fatal("promtool test rules passed with the queue-age threshold at 600 s: the unit tests prove nothing")
	}
}

// TestAlertRulesTested: every alert has a firing and a not-firing case in
// testdata/alerts-test.yaml, and the tests name no alert that does not exist.
func TestAlertRulesTested(t *testing.T) {
	rule := alertRules(t, "prod")
	b, err := os.ReadFile(alertsTests)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	// Only the fields this check reads; promtool itself validates the rest.
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s: %v", alertsTests, err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range file.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if !firing[r.Alert] {
				t.Errorf("alert %s: no test case in %s where it fires", r.Alert, alertsTests)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no test case in %s where it does not fire", r.Alert, alertsTests)
			}
		}
	}
	for name := range firing {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which the PrometheusRule does not have", alertsTests, name)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which the PrometheusRule does not have", alertsTests, name)
		}
	}
}

// TestAlertRulesMetadata: every alert has a severity the receivers route on,
// a summary and a description, and a runbook_url whose anchor is a heading
// of docs/runbook.md.
func TestAlertRulesMetadata(t *testing.T) {
	rule := alertRules(t, "prod")
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatalf("the alerts' runbook: %v", err)
	}
	anchors := docs.Anchors(string(b))
	n := 0
	for gi, g := range rule.Spec.Groups {
		for ri, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			where := "PrometheusRule " + rule.Namespace + "/" + rule.Name + " spec.groups[" + strconv.Itoa(gi) + "].rules[" + strconv.Itoa(ri) + "] (" + r.Alert + ")"
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: labels.severity = %q, want critical, warning or info", where, s)
			}
			for _, k := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: annotations.%s is empty", where, k)
				}
			}
			u := r.Annotations["runbook_url"]
			path, anchor, ok := strings.Cut(u, "#")
			if !ok || path != runbookURL || anchor == "" {
				t.Errorf("%s: annotations.runbook_url = %q, want %s#<anchor>", where, u, runbookURL)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("%s: annotations.runbook_url anchor #%s is not a heading of %s", where, anchor, runbookFile)
			}
		}
	}
	if n == 0 {
		t.Fatal("the PrometheusRule has no alert")
	}
	// Both ways: every alert has its runbook section (above), and every
	// alert section of the runbook is an alert the rule still has.
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[r.Alert] = true
			}
		}
	}
	for _, m := range runbookAlertRE.FindAllStringSubmatch(string(b), -1) {
		if !alerts[m[1]] {
			t.Errorf("%s has a section for alert %s, which the PrometheusRule does not have", runbookFile, m[1])
		}
	}
}

// runbookAlertRE matches the runbook's per-alert sections ("## VoiceAssist…").
var runbookAlertRE = regexp.MustCompile(`(?m)^## (VoiceAssist[A-Za-z0-9]+)\s*$`)

// TestRunbookLinks: the runbook's links to its own sections resolve.
func TestRunbookLinks(t *testing.T) {
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	anchors := docs.Anchors(doc)
	links := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(docs.WithoutCodeBlocks(doc), -1)
	if len(links) == 0 {
		t.Fatal("no in-page links found: the pattern is wrong")
	}
	for _, m := range links {
		if !anchors[m[1]] {
			t.Errorf("%s links to #%s, which is not a heading", runbookFile, m[1])
		}
	}
}
