package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

// lintPath lints one fixture (file or directory) with the default config.
func lintPath(t *testing.T, p string) *Report {
	t.Helper()
	in, err := Paths([]string{p}, nil)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return Lint(in, DefaultConfig())
}

func findings(r *Report, rule string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.RuleID == rule && f.Accepted == "" {
			out = append(out, f)
		}
	}
	return out
}

// fixture returns testdata/rules/<rule>/<kind>.yaml, or the directory
// <kind>/ for rules that need a kustomization.
func fixture(t *testing.T, rule, kind string) string {
	t.Helper()
	base := filepath.Join("testdata", "rules", rule, kind)
	if _, err := os.Stat(base + ".yaml"); err == nil {
		return base + ".yaml"
	}
	if st, err := os.Stat(base); err == nil && st.IsDir() {
		return base
	}
	t.Fatalf("rule %s has no %s fixture (%s.yaml or %s/)", rule, kind, base, base)
	return ""
}

// wantCount reads "# want: N" from a fixture's first line (default 1): the
// number of findings the fire fixture must produce, one per bad object.
func wantCount(t *testing.T, p string) int {
	t.Helper()
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return 1
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`^# want: (\d+)`).FindSubmatch(b); m != nil {
		n, err := strconv.Atoi(string(m[1]))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return n
	}
	return 1
}

// TestRuleFixtures: every rule has a fixture that must fire and one that
// must not.
func TestRuleFixtures(t *testing.T) {
	for _, r := range Rules() {
		t.Run(r.ID, func(t *testing.T) {
			fire := fixture(t, r.ID, "fire")
			got := findings(lintPath(t, fire), r.ID)
			if want := wantCount(t, fire); len(got) < want {
				t.Errorf("%s: %d finding(s) of %s, want %d", fire, len(got), r.ID, want)
			}
			for _, f := range got {
				if f.Message == "" || f.Fix == "" || f.Object == "" || f.File == "" || f.Severity == "" {
					t.Errorf("incomplete finding: %+v", f)
				}
			}
			pass := fixture(t, r.ID, "pass")
			for _, f := range findings(lintPath(t, pass), r.ID) {
				t.Errorf("%s: unexpected %s on %s %s: %s", pass, r.ID, f.Object, f.Field, f.Message)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	idRE := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	for _, r := range Rules() {
		if seen[r.ID] || !idRE.MatchString(r.ID) || r.Summary == "" || r.Help == "" || r.Check == nil {
			t.Errorf("rule %q: duplicate, badly named or incomplete", r.ID)
		}
		if r.Severity != Error && r.Severity != Warning && r.Severity != Info {
			t.Errorf("rule %s: severity %q", r.ID, r.Severity)
		}
		seen[r.ID] = true
	}
	entries, err := os.ReadDir(filepath.Join("testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !seen[e.Name()] {
			t.Errorf("testdata/rules/%s names no rule", e.Name())
		}
	}
}

// TestEmbeddedEnvironments: our own manifests have no error-level finding
// in any environment (vactl lint exits 0). The gateway's Percent 100 /
// Pods 2 pair under Min: Percent decides only at 1 replica, so it is dead
// (a warning, accepted in the manifest) wherever minReplicas is 2 or more —
// at 2 the two tie — and alive in dev (1–3).
func TestEmbeddedEnvironments(t *testing.T) {
	in, err := Embedded([]string{"base", "dev", "staging", "prod"})
	if err != nil {
		t.Fatal(err)
	}
	rep := Lint(in, DefaultConfig())
	dead := map[string]bool{}
	for _, f := range rep.Findings {
		if f.Severity == Error && f.Accepted == "" {
			t.Errorf("%s: %s %s %s: %s", f.Input, f.RuleID, f.Object, f.Field, f.Message)
		}
		if f.RuleID == "behavior-dead-policy" {
			dead[f.Input] = true
			if f.Accepted == "" || f.Field != "spec.behavior.scaleUp.policies[0]" {
				t.Errorf("%s: dead policy %s not accepted: %s", f.Input, f.Field, f.Message)
			}
		}
		if f.File == "" || !strings.HasPrefix(f.File, "k8s/performance/") {
			t.Errorf("%s %s: file %q, want a k8s/performance path", f.RuleID, f.Object, f.File)
		}
	}
	if want := map[string]bool{"env base": true, "env staging": true, "env prod": true}; !reflect.DeepEqual(dead, want) {
		t.Errorf("gateway Percent policy dead in %v, want %v", dead, want)
	}
	if rep.Failed() {
		t.Fatal("vactl lint on the embedded environments would exit 1")
	}
	// The database PDBs block eviction on purpose and say so: accepted, not hidden.
	acc := 0
	for _, f := range rep.Findings {
		if f.RuleID == "pdb-blocks-eviction" && strings.HasPrefix(f.Accepted, "intended:") {
			acc++
		}
	}
	if acc != 2*len(rep.Inputs) {
		t.Errorf("%d accepted pdb-blocks-eviction findings, want 2 per environment", acc)
	}
}

// TestPitfalls: every known pitfall of docs/design.md that is a property of the
// manifests is flagged, by a rule or, where kustomize cannot build the
// input at all, by an input error that explains it.
func TestPitfalls(t *testing.T) {
	for _, c := range []struct {
		path     string
		rules    []string
		inputErr string
	}{
		{"cycle/overlays/prod", nil, "cycle detected"},
		{"patch-without-namespace/overlay", nil, "add metadata.namespace to the patch"},
		{"smp-drops-metrics/overlay", []string{"overlay-drops-metric"}, ""},
		{"global-namespace", []string{"placement-component-moved"}, ""},
		{"workload-incomplete.yaml", []string{"workload-incomplete", "pdb-selector-matches-nothing"}, ""},
		{"quota-prod.yaml", []string{"quota-below-maxima"}, ""},
		{"redis-queue.yaml", []string{"redis-maxmemory-unit", "redis-queue-eviction"}, ""},
		{"exec-probe.yaml", []string{"probe-exec-no-shell"}, ""},
	} {
		t.Run(c.path, func(t *testing.T) {
			p := filepath.Join("testdata", "pitfalls", c.path)
			in, err := Paths([]string{p}, nil)
			if c.inputErr != "" {
				var ie *InputError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.inputErr) {
					t.Fatalf("got %v, want an input error containing %q", err, c.inputErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rep := Lint(in, DefaultConfig())
			for _, r := range c.rules {
				if len(findings(rep, r)) == 0 {
					t.Errorf("pitfall not flagged by %s", r)
				}
			}
			if !rep.Failed() {
				t.Error("the pitfall does not fail vactl lint")
			}
		})
	}
	// The workload-incomplete pitfall flags each of its three workloads.
	rep := lintPath(t, filepath.Join("testdata", "pitfalls", "workload-incomplete.yaml"))
	if n := len(findings(rep, "workload-incomplete")); n != 3 {
		t.Errorf("workload-incomplete: %d findings, want 3 (no selector, no labels, no image)", n)
	}
}

// TestNoObjectsIsInputError: an input with no Kubernetes object is an input
// error naming it (vactl exits 2), never "no findings": an empty directory,
// a directory of overlays (k8s/performance/overlays itself), a file of
// empty documents, a kustomization that builds nothing, an empty stdin.
func TestNoObjectsIsInputError(t *testing.T) {
	dir := filepath.Join("testdata", "inputs")
	for _, c := range []struct {
		path, stdin, want string
	}{
		{filepath.Join(dir, "empty-dir"), "", "no Kubernetes objects in the directory"},
		{filepath.Join(dir, "overlays"), "", "lint them with -f " + filepath.Join(dir, "overlays", "dev") + " -f " + filepath.Join(dir, "overlays", "prod")},
		{filepath.Join("..", "..", "k8s", "performance", "overlays"), "", "only kustomizations in its subdirectories"},
		{filepath.Join(dir, "no-objects.yaml"), "", "no Kubernetes objects in the file"},
		{filepath.Join(dir, "overlays", "dev", "kustomization.yaml"), "", "give its directory"},
		{filepath.Join(dir, "empty-kustomization"), "", "builds no Kubernetes objects"},
		{"-", "", "no Kubernetes objects on stdin"},
		{"-", "---\n# nothing\n", "no Kubernetes objects on stdin"},
	} {
		_, err := Paths([]string{c.path}, strings.NewReader(c.stdin))
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an input error containing %q", c.path, err, c.want)
			continue
		}
		if want := c.path; want == "-" && ie.File != "<stdin>" || want != "-" && ie.File != want {
			t.Errorf("%s: the error names %q", c.path, ie.File)
		}
	}
	// One empty path among good ones is still an error; the overlays the
	// hint names lint fine.
	if _, err := Paths([]string{fixture(t, "hpa-target-missing", "pass"), filepath.Join(dir, "empty-dir")}, nil); err == nil {
		t.Error("an empty directory next to a good file: no error")
	}
	in, err := Paths([]string{filepath.Join(dir, "overlays", "dev"), filepath.Join(dir, "overlays", "prod")}, nil)
	if err != nil || len(in) != 2 || len(in[0].Objects) != 1 {
		t.Errorf("the overlays the hint names: %v, %d inputs", err, len(in))
	}
}

// TestFailsAt: what --fail-on exits 1 on. The window-period fixture has
// warnings and no errors; accepted findings never count.
func TestFailsAt(t *testing.T) {
	rep := lintPath(t, fixture(t, "behavior-window-period", "fire"))
	if rep.Count(Error) != 0 || rep.Count(Warning) == 0 {
		t.Fatalf("fixture: %d errors, %d warnings; want warnings only", rep.Count(Error), rep.Count(Warning))
	}
	if rep.Failed() || rep.FailsAt(Error) || !rep.FailsAt(Warning) || !rep.FailsAt(Info) {
		t.Errorf("FailsAt error/warning/info = %v/%v/%v, want false/true/true", rep.FailsAt(Error), rep.FailsAt(Warning), rep.FailsAt(Info))
	}
	for i := range rep.Findings {
		rep.Findings[i].Accepted = "accepted for the test"
	}
	if rep.FailsAt(Info) {
		t.Error("accepted findings fail the run")
	}
	if s, err := ParseSeverity("warning"); s != Warning || err != nil {
		t.Errorf("ParseSeverity(warning) = %q, %v", s, err)
	}
	if _, err := ParseSeverity("warn"); err == nil {
		t.Error("ParseSeverity(warn): no error")
	}
}

func TestMalformedYAMLNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [y\n"), 0o644)
	_, err := Paths([]string{p}, nil)
	var ie *InputError
	if !errors.As(err, &ie) || ie.File != p || ie.Line == 0 {
		t.Fatalf("got %v, want an InputError naming %s and a line", err, p)
	}
	if !strings.HasPrefix(err.Error(), p+":") {
		t.Errorf("error %q does not start with file:line", err)
	}
	for _, c := range []struct{ doc, want string }{
		{"kind: ConfigMap\nmetadata: {name: x}\n", "no apiVersion or kind"},
		{"- a\n- b\n", "must be an object"},
		{"a: b\n\tc: d\n", "malformed YAML"},
	} {
		_, err := ParseStream("in.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "in.yaml:") {
			t.Errorf("%q: got %v, want in.yaml:…%s", c.doc, err, c.want)
		}
	}
}

func TestStdinAndListAndLines(t *testing.T) {
	list := `apiVersion: v1
kind: List
items:
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: h, namespace: demo}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nothere}
      minReplicas: 4
      maxReplicas: 2
`
	in, err := Paths([]string{"-"}, strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	rep := Lint(in, DefaultConfig())
	got := map[string]Finding{}
	for _, f := range rep.Findings {
		got[f.RuleID] = f
	}
	if f := got["hpa-replica-bounds"]; f.File != "<stdin>" || f.Line != 9 || f.Field != "spec.minReplicas" {
		t.Errorf("hpa-replica-bounds at %s:%d %s, want <stdin>:9 spec.minReplicas", f.File, f.Line, f.Field)
	}
	if f := got["hpa-target-missing"]; f.Line != 8 {
		t.Errorf("hpa-target-missing at line %d, want 8", f.Line)
	}
}

func TestAcceptAnnotationAndDisable(t *testing.T) {
	doc := `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: p
  namespace: demo
  annotations:
    accept.lint.voiceassist.io/pdb-selector-matches-nothing: "pods come from an operator"
spec:
  minAvailable: 1
  selector: {matchLabels: {app: x}}
`
	objs, err := ParseStream("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rep := Lint([]*Input{{Name: "p.yaml", Objects: objs}}, DefaultConfig())
	var sel, unhealthy *Finding
	for i, f := range rep.Findings {
		switch f.RuleID {
		case "pdb-selector-matches-nothing":
			sel = &rep.Findings[i]
		case "pdb-unhealthy-eviction-policy":
			unhealthy = &rep.Findings[i]
		}
	}
	if sel == nil || sel.Accepted != "pods come from an operator" {
		t.Errorf("accepted finding: %+v", sel)
	}
	if unhealthy == nil || unhealthy.Accepted != "" {
		t.Errorf("other rules stay active: %+v", unhealthy)
	}
	if rep.Failed() {
		t.Error("an accepted error must not fail the run")
	}

	cfg := DefaultConfig()
	cfg.Disable = []string{"pdb-unhealthy-eviction-policy"}
	rep = Lint([]*Input{{Name: "p.yaml", Objects: objs}}, cfg)
	if len(findings(rep, "pdb-unhealthy-eviction-policy")) != 0 {
		t.Error("disabled rule ran")
	}
	cfg.Disable = []string{"no-such-rule"}
	if err := cfg.Validate(); err == nil {
		t.Error("unknown rule ID accepted")
	}
}

func policy(typ string, v, p int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.HPAScalingPolicyType(typ), Value: v, PeriodSeconds: p}
}

// TestDeadPolicies: a policy is dead when at every count of the range
// another allows a change at least as big (Max) or at most as big (Min):
// ties do not keep it alive, since removing it changes no limit.
func TestDeadPolicies(t *testing.T) {
	max, min := autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect
	dir := func(up bool, sel autoscalingv2.ScalingPolicySelect, ps ...autoscalingv2.HPAScalingPolicy) direction {
		return direction{up: up, rules: hpa.ScalingRules{SelectPolicy: sel, Policies: ps}}
	}
	gw := []autoscalingv2.HPAScalingPolicy{policy("Percent", 100, 30), policy("Pods", 2, 30)}
	for _, c := range []struct {
		name   string
		d      direction
		lo, hi int32
		dead   []int
	}{
		{"gateway Min base: Percent only ties at 2", dir(true, min, gw...), 2, 10, []int{0}},
		{"gateway Min dev: Percent decides at 1", dir(true, min, gw...), 1, 3, nil},
		{"gateway Min prod: Percent never decides", dir(true, min, gw...), 3, 15, []int{0}},
		{"gateway Max base: the cap only ties at 2", dir(true, max, gw...), 2, 10, []int{1}},
		{"gateway Max dev: the cap decides at 1", dir(true, max, gw...), 1, 3, nil},
		{"gateway Max prod: the cap never binds", dir(true, max, gw...), 3, 15, []int{1}},
		{"upstream default up", dir(true, max, policy("Pods", 4, 15), policy("Percent", 100, 15)), 1, 100, nil},
		{"upstream default up from 4: Pods only ties at 4", dir(true, max, policy("Pods", 4, 15), policy("Percent", 100, 15)), 4, 100, []int{0}},
		{"single policy", dir(true, max, policy("Pods", 4, 15)), 1, 100, nil},
		{"Disabled", dir(true, autoscalingv2.DisabledPolicySelect, gw...), 3, 15, nil},
		{"down Max", dir(false, max, policy("Pods", 1, 60), policy("Percent", 50, 60)), 3, 10, []int{0}},
		{"down Max: Pods only ties at 2", dir(false, max, policy("Pods", 1, 60), policy("Percent", 50, 60)), 2, 10, []int{0}},
		{"down Max: at 1 the two still tie (0.5 truncates to 0)", dir(false, max, policy("Pods", 1, 60), policy("Percent", 50, 60)), 1, 10, []int{0}},
		{"down Max: Pods 3 decides below 6, Percent above", dir(false, max, policy("Pods", 3, 60), policy("Percent", 50, 60)), 3, 10, nil},
		// A longer period starts from fewer replicas when scaling up, so
		// under Max a long-period policy cannot make a short one dead.
		{"periods differ", dir(true, max, policy("Percent", 100, 60), policy("Pods", 2, 15)), 3, 15, nil},
		{"periods differ, dominated", dir(true, max, policy("Percent", 100, 15), policy("Pods", 2, 60)), 3, 15, []int{1}},
		// Two policies that are the same everywhere: one of them is dead, not both.
		{"duplicate under Max", dir(true, max, policy("Pods", 2, 30), policy("Pods", 2, 30)), 1, 10, []int{1}},
		{"duplicate under Min", dir(true, min, policy("Pods", 2, 30), policy("Pods", 2, 30), policy("Percent", 100, 30)), 1, 10, []int{1}},
	} {
		got := deadPolicies(c.d, c.lo, c.hi)
		if len(got) != len(c.dead) {
			t.Errorf("%s: dead %v, want %v", c.name, got, c.dead)
			continue
		}
		for _, i := range c.dead {
			if _, ok := got[i]; !ok {
				t.Errorf("%s: dead %v, want %v", c.name, got, c.dead)
			}
		}
	}
}

// TestDeadPolicyTie: under Max a Pods cap that equals the Percent policy at
// minReplicas and is exceeded above never binds; the finding says they tie.
func TestDeadPolicyTie(t *testing.T) {
	rep := lintPath(t, fixture(t, "behavior-dead-policy", "fire"))
	var got []string
	for _, f := range findings(rep, "behavior-dead-policy") {
		if f.Object == "HorizontalPodAutoscaler demo/tie-hpa" {
			got = append(got, f.Field+": "+f.Message)
			if f.Severity != Error || f.Field != "spec.behavior.scaleUp.policies[0]" || !strings.Contains(f.Message, "at 4 both allow 4→8") {
				t.Errorf("tie-hpa: %s %s: %s", f.Severity, f.Field, f.Message)
			}
		}
	}
	if len(got) != 1 {
		t.Errorf("tie-hpa: %d dead-policy findings, want 1 (the Pods cap): %q", len(got), got)
	}
}

func TestMetricShape(t *testing.T) {
	for name, want := range map[string]string{
		"voiceassist_queue_depth":                  "depth",
		"voiceassist_queue_oldest_job_age_seconds": "age",
		"kafka_consumergroup_lag":                  "depth",
		"rabbitmq_queue_messages":                  "depth",
		"sqs_backlog":                              "depth",
		"http_requests_per_second":                 "",
		"memory_usage_bytes":                       "",
		"average_latency":                          "",
	} {
		if got := metricShape(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

func TestRedisMemoryUnits(t *testing.T) {
	for v, ok := range map[string]bool{"768mb": true, "768MB": true, "1gb": true, "1G": true, "100k": true, "4096": true, "10b": true,
		"768Mi": false, "1Gi": false, "1.5gb": false, "": false, "1 gb": false, "1tb": false} {
		if redisMemory.MatchString(v) != ok {
			t.Errorf("%q: valid=%v, want %v", v, !ok, ok)
		}
	}
}

func TestImageName(t *testing.T) {
	for in, want := range map[string]string{
		"voiceassist/server:0.1.0":                  "voiceassist/server",
		"registry.example/voiceassist/server:0.1.0": "voiceassist/server",
		"localhost:5000/voiceassist/server":         "voiceassist/server",
		"redis:7.4-bookworm":                        "redis",
		"voiceassist/server@sha256:0123456789ab":    "voiceassist/server",
	} {
		if got := imageName(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestOutputs(t *testing.T) {
	rep := lintPath(t, filepath.Join("testdata", "pitfalls", "redis-queue.yaml"))

	var text bytes.Buffer
	if err := WriteText(&text, rep, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	s := text.String()
	for _, want := range []string{"StatefulSet voiceassist/voiceassist-redis", "redis-maxmemory-unit", "spec.template.spec.containers[0].args[2] (line 17)", "fix: write the size in Redis units, e.g. 768mb"} {
		if !strings.Contains(s, want) {
			t.Errorf("text output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b[") {
		t.Error("colour without a terminal")
	}
	var col bytes.Buffer
	WriteText(&col, rep, TextOptions{Color: true})
	if !strings.Contains(col.String(), ansiRed+"error") {
		t.Error("no colour when asked for")
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []Finding
		Summary  struct{ Errors int }
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Summary.Errors != rep.Count(Error) || len(doc.Findings) != len(rep.Findings) {
		t.Fatalf("json: %v %+v", err, doc.Summary)
	}

	var sb bytes.Buffer
	if err := WriteSARIF(&sb, rep); err != nil {
		t.Fatal(err)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID               string `json:"id"`
						ShortDescription struct{ Text string }
						Help             struct{ Text string }
					}
				}
			}
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(sb.Bytes(), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("sarif: %v", err)
	}
	run := sarif.Runs[0]
	if len(run.Tool.Driver.Rules) != len(Rules()) || len(run.Results) != len(rep.Findings) {
		t.Fatalf("sarif: %d rules, %d results", len(run.Tool.Driver.Rules), len(run.Results))
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID || r.Level == "" || r.Message.Text == "" {
			t.Errorf("sarif result %+v", r)
		}
		if len(r.Locations) != 1 || !strings.HasSuffix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "redis-queue.yaml") || r.Locations[0].PhysicalLocation.Region.StartLine == 0 {
			t.Errorf("sarif location %+v", r.Locations)
		}
	}
}

// TestUserKustomizationBases: a user's overlay is compared with the bases
// its kustomization lists, and findings point into the base's files.
func TestUserKustomizationBases(t *testing.T) {
	in, err := Paths([]string{filepath.Join("testdata", "rules", "overlay-drops-metric", "fire")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || len(in[0].Bases) != 1 {
		t.Fatalf("inputs %d, bases %d", len(in), len(in[0].Bases))
	}
	f := findings(Lint(in, DefaultConfig()), "overlay-drops-metric")
	if len(f) != 1 || !strings.Contains(f[0].Message, "External/voiceassist_queue_depth{queue=voice-jobs}") {
		t.Fatalf("%+v", f)
	}
	if want := filepath.Join("testdata", "rules", "overlay-drops-metric", "base", "hpa.yaml"); f[0].File != want || f[0].Line == 0 {
		t.Errorf("located at %s:%d, want %s", f[0].File, f[0].Line, want)
	}
}

// TestFastJSONMatchesMapPath: the direct YAML-node-to-JSON conversion
// decodes every fixture to the same typed object as the general path.
func TestFastJSONMatchesMapPath(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	docs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
				continue
			}
			fast, err := decodeNode(n.Content[0])
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var m map[string]any
			if err := n.Content[0].Decode(&m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			slow, err := decodeMap(m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast.Obj, slow.Obj) || fast.Ref != slow.Ref || fast.Invalid != slow.Invalid {
				t.Errorf("%s: %s decodes differently:\n%#v\n%#v", f, fast.Ref, fast.Obj, slow.Obj)
			}
			docs++
		}
	}
	if docs < 100 {
		t.Errorf("only %d documents compared", docs)
	}
	var b bytes.Buffer
	appendJSONString(&b, "a\"b\\c\n\x01é")
	var s string
	if err := json.Unmarshal(b.Bytes(), &s); err != nil || s != "a\"b\\c\n\x01é" {
		t.Errorf("string escaping: %q -> %q (%v)", b.String(), s, err)
	}
}
