package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func runIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewCommand(IOStreams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), ExitCode(err)
}

const fixtures = "../lint/testdata"

// The embedded environments are clean: vactl lint exits 0.
func TestLintEmbedded(t *testing.T) {
	out, stderr, code := run(t, "lint")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, env := range []string{"env base", "env dev", "env staging", "env prod"} {
		if !strings.Contains(out, env) {
			t.Errorf("output lacks %q", env)
		}
	}
	out, _, code = run(t, "lint", "--env", "dev", "-o", "json")
	var doc struct {
		Inputs  []string
		Summary struct{ Errors, Accepted int }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if len(doc.Inputs) != 1 || doc.Inputs[0] != "env dev" || doc.Summary.Errors != 0 || doc.Summary.Accepted != 2 { // the two database PDBs (metrics-server is in no environment)
		t.Errorf("dev: %+v", doc)
	}
}

func TestLintFindingsExit1(t *testing.T) {
	out, _, code := run(t, "lint", "-f", filepath.Join(fixtures, "pitfalls", "redis-queue.yaml"))
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "redis-maxmemory-unit") || !strings.Contains(out, "StatefulSet voiceassist/voiceassist-redis") || strings.Contains(out, "\x1b[") {
		t.Errorf("text output:\n%s", out)
	}
	// Disabling the failing rules makes it pass.
	_, _, code = run(t, "lint", "-f", filepath.Join(fixtures, "pitfalls", "redis-queue.yaml"), "--disable", "redis-maxmemory-unit,redis-queue-eviction")
	if code != ExitOK {
		t.Errorf("with the rules disabled: exit %d", code)
	}
}

func TestLintStdinSARIF(t *testing.T) {
	in, _ := os.ReadFile(filepath.Join(fixtures, "pitfalls", "exec-probe.yaml"))
	out, _, code := runIn(t, string(in), "lint", "-f", "-", "-o", "sarif")
	if code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID string
				Level  string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || log.Version != "2.1.0" {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, r := range log.Runs[0].Results {
		found = found || r.RuleID == "probe-exec-no-shell" && r.Level == "error"
	}
	if !found {
		t.Error("no probe-exec-no-shell error in SARIF")
	}
}

func TestLintConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vactl.yaml")
	os.WriteFile(cfg, []byte("render: {other: command}\nlint:\n  disable: [probe-exec-no-shell]\n"), 0o644)
	_, _, code := run(t, "lint", "--config", cfg, "-f", filepath.Join(fixtures, "pitfalls", "exec-probe.yaml"))
	if code != ExitOK {
		t.Errorf("rule disabled in the config file: exit %d", code)
	}
	os.WriteFile(cfg, []byte("lint:\n  disabel: [x]\n"), 0o644)
	_, stderr, code := run(t, "lint", "--config", cfg)
	if code != ExitUsage || !strings.Contains(stderr, "disabel") {
		t.Errorf("misspelt key: exit %d %q", code, stderr)
	}
}

func TestLintUsageAndInputErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lint", "-o", "xml"}, `-o "xml"`},
		{[]string{"lint", "--env", "qa"}, `unknown environment "qa"`},
		{[]string{"lint", "--env", "prod", "-f", bad}, "give one of them"},
		{[]string{"lint", "--disable", "nope"}, `unknown rule "nope"`},
		{[]string{"lint", "--limit-ratio", "4"}, "MIN-MAX"},
		{[]string{"lint", "--limit-ratio", "4-2"}, "min <= max"},
		{[]string{"lint", "-f", bad}, bad + ":4:"},
		{[]string{"lint", "-f", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"lint", "-f", filepath.Join(fixtures, "pitfalls", "cycle", "overlays", "prod")}, "cycle detected"},
		{[]string{"lint", "--config", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{[]string{"lint", "-f", filepath.Join(fixtures, "inputs", "empty-dir")}, "no Kubernetes objects in the directory"},
		{[]string{"lint", "-f", "../../k8s/performance/overlays"}, "only kustomizations"},
		{[]string{"lint", "-f", "-"}, "no Kubernetes objects on stdin"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit 2 containing %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

func TestLintListRules(t *testing.T) {
	out, _, code := run(t, "lint", "--list-rules")
	if code != 0 || !strings.Contains(out, "behavior-dead-policy") || !strings.Contains(out, "pdb-blocks-eviction") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestLintLimitRatioFlag(t *testing.T) {
	// Our limits are 4× requests: a 2-3× band flags them, as warnings only.
	out, _, code := run(t, "lint", "--env", "base", "--limit-ratio", "2-3", "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"resources-limit-ratio"`) {
		t.Errorf("exit %d, ratio findings missing", code)
	}
}

// TestLintFailOn: --fail-on warning makes warnings fail the run (exit 1), as
// kube-score's and kube-linter's CI users expect; accepted findings never do.
func TestLintFailOn(t *testing.T) {
	warnOnly := filepath.Join(fixtures, "rules", "behavior-window-period", "fire.yaml")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"lint", "-f", warnOnly}, ExitOK},
		{[]string{"lint", "-f", warnOnly, "--fail-on", "error"}, ExitOK},
		{[]string{"lint", "-f", warnOnly, "--fail-on", "warning"}, ExitFailure},
		{[]string{"lint", "-f", warnOnly, "--fail-on", "info"}, ExitFailure},
		{[]string{"lint", "-f", warnOnly, "--fail-on", "warning", "--disable", "behavior-window-period,pod-security-restricted,networkpolicy-missing"}, ExitOK},
		// Our environments' warnings are all accepted, with reasons.
		{[]string{"lint", "--fail-on", "warning"}, ExitOK},
		{[]string{"lint", "--fail-on", "warn"}, ExitUsage},
	} {
		out, stderr, code := run(t, c.args...)
		if code != c.code {
			t.Errorf("vactl %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.code, out, stderr)
		}
	}
}

// TestLintYAML: -o yaml is the JSON document as YAML.
func TestLintYAML(t *testing.T) {
	p := filepath.Join(fixtures, "pitfalls", "redis-queue.yaml")
	js, _, _ := run(t, "lint", "-f", p, "-o", "json")
	ys, _, code := run(t, "lint", "-f", p, "-o", "yaml")
	if code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal([]byte(js), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(ys), &fromYAML); err != nil {
		t.Fatalf("%v\n%s", err, ys)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) || !strings.Contains(ys, "ruleId: redis-maxmemory-unit") {
		t.Errorf("-o yaml differs from -o json:\n%s", ys)
	}
}
