package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSimulateText(t *testing.T) {
	out, stderr, code := run(t, "simulate", "--env", "prod", "--scenario", "spike")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Scenario spike, 1h0m0s, seed 1: prod", "voiceassist-server-hpa", "voiceassist-worker-hpa",
		"peak replicas", "catch-up s", "SLO violation s", "oracle pod-hours", "direction changes",
		"voiceassist-server (prod)", "load req/s", "█"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestSimulateCompareAndFiles(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "c.png")
	out, stderr, code := run(t, "simulate", "--env", "prod", "--compare", "staging", "--duration", "20m", "-o", "json", "--png", png, "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Runs []struct {
			Label    string
			Duration int64 `json:"durationSeconds"`
			Seed     uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].Label != "prod" || res.Runs[1].Label != "staging" || res.Runs[0].Duration != 1200 || res.Runs[1].Seed != 3 {
		t.Errorf("runs %+v", res.Runs)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("png: %v", err)
	}

	// two manifest directories, a trace and CSV output
	trace := filepath.Join(dir, "load.csv")
	os.WriteFile(trace, []byte("time,rps,jobs\n0,200,0.5\n300,600,1\n"), 0o644)
	out, stderr, code = run(t, "simulate", "--dir", "../../k8s/performance", "--compare-dir", "../../k8s/performance", "--env", "dev", "--trace", trace, "-o", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "run,deployment,t,replicas") || len(lines) != 1+2*2*300 || !strings.HasPrefix(lines[1], "../../k8s/performance:dev,voiceassist-server,0,") {
		t.Errorf("csv: %d lines, %q %q", len(lines), lines[0], lines[1])
	}
}

func TestSimulateParams(t *testing.T) {
	dir := t.TempDir()
	params := filepath.Join(dir, "p.yaml")
	os.WriteFile(params, []byte("gateway:\n  cpuPerRPS: 2\n  idleCPU: 50\n"), 0o644)
	out, _, code := run(t, "simulate", "--params", params, "--set", "gateway.baseRPS=250", "--duration", "10m", "-o", "json")
	if code != 0 || !strings.Contains(out, `"load": 250`) || !strings.Contains(out, `"cpuPerRPS": 2,`) || !strings.Contains(out, `"capacityPerPod": 225,`) {
		t.Errorf("exit %d; load 250, cpuPerRPS 2 or capacity 225 not in output", code)
	}
	out, _, code = run(t, "simulate", "--params", params, "--set", "gateway.baseRPS=250", "--duration", "10m")
	for _, want := range []string{"params    defaults + " + params + " + --set gateway.baseRPS=250",
		"changed   gateway.baseRPS=250 (default 200), gateway.cpuPerRPS=2 (default 6.18), gateway.idleCPU=50 (default 3.99)",
		"rate() over 2m0s (prometheus-adapter-values.yaml rules.custom[0].metricsQuery [2m])",
		"gateway        500m CPU per pod (request 500m, limit 2000m, run.cpuBurst 0) serves 225 req/s"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d; header lacks %q", code, want)
		}
	}
}

func TestSimulateHelp(t *testing.T) {
	out, _, code := run(t, "simulate", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"steady", "ramp", "spike", "diurnal", "flash-crowd", "queue-burst", "--trace", "M/M/1", "metrics-server", "--compare-dir", "--params"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestSimulateErrors(t *testing.T) {
	dir := t.TempDir()
	badTrace := filepath.Join(dir, "bad.csv")
	os.WriteFile(badTrace, []byte("0,100,1\n60,lots,1\n"), 0o644)
	badParams := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badParams, []byte("worker:\n  jobMean: 3\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"simulate", "--scenario", "tsunami"}, ExitUsage, `unknown scenario "tsunami"`},
		{[]string{"simulate", "--env", "qa"}, ExitUsage, `unknown environment "qa"`},
		{[]string{"simulate", "--compare", "qa"}, ExitUsage, `--compare: unknown environment "qa"`},
		{[]string{"simulate", "-o", "xml"}, ExitUsage, `-o "xml": want text, json, yaml or csv`},
		{[]string{"simulate", "--duration", "soon"}, ExitUsage, `--duration "soon"`},
		{[]string{"simulate", "--trace", badTrace}, ExitUsage, "bad.csv:2: rps \"lots\": want a number"},
		{[]string{"simulate", "--trace", badTrace, "--scenario", "spike"}, ExitUsage, "--trace and --scenario"},
		{[]string{"simulate", "--trace", filepath.Join(dir, "none.csv")}, ExitUsage, "none.csv"},
		{[]string{"simulate", "--params", badParams}, ExitUsage, "bad.yaml: worker.jobMean: unknown field"},
		{[]string{"simulate", "--set", "gateway.cpuPerRPS=0"}, ExitUsage, "gateway.cpuPerRPS: 0 must be greater than 0"},
		{[]string{"simulate", "--seed", "-1"}, ExitUsage, `invalid argument "-1" for "--seed" flag: want a whole number 0 or more`},
		{[]string{"simulate", "--seed", "x"}, ExitUsage, `"--seed" flag: want a whole number`},
		{[]string{"simulate", "--seeds", "0"}, ExitUsage, `"--seeds" flag: want a whole number from 1 to 1000`},
		{[]string{"simulate", "--slo", "gateway.p95<=1"}, ExitUsage, `unknown figure "p95"`},
		{[]string{"simulate", "--fail-on", "slo"}, ExitUsage, "--fail-on slo: give at least one --slo"},
		{[]string{"simulate", "--fail-on", "warn"}, ExitUsage, `--fail-on "warn"`},
		{[]string{"simulate", "--dir", dir}, ExitFailure, "kustomize build"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit %d containing %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
}

// --seeds gives the mean and 95 % interval; --slo with --fail-on slo gates:
// exit 1 when a threshold fails in any seed, 0 when all pass.
func TestSimulateSeedsAndSLOGate(t *testing.T) {
	out, stderr, code := run(t, "simulate", "--scenario", "spike", "--seeds", "5", "--slo", "gateway.catchUpSeconds<=240", "--slo", "worker.queuedAtEnd=0", "--fail-on", "slo")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	for _, want := range []string{"seeds 1-5: prod", "params    defaults (profile: vactl calibrate)", "5 runs each: a figure is the mean (95 % confidence interval", "PASS  gateway.catchUpSeconds<=240", "PASS  worker.queuedAtEnd<=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`catch-up s \(load > capacity, longest\)\s+\d+ \(\d+–\d+\)`).MatchString(out) {
		t.Errorf("no mean (lo–hi) catch-up in\n%s", out)
	}
	out, _, code = run(t, "simulate", "--scenario", "spike", "--seeds", "3", "--slo", "gateway.catchUpSeconds<=100", "--fail-on", "slo", "-o", "json")
	if code != ExitFailure {
		t.Errorf("a failing --slo with --fail-on slo: exit %d, want 1", code)
	}
	var res struct {
		Seeds []struct {
			Seeds []uint64
		}
		SLO []struct {
			Pass   bool
			Failed int `json:"failedSeeds"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Seeds) != 1 || len(res.Seeds[0].Seeds) != 3 || len(res.SLO) != 1 || res.SLO[0].Pass || res.SLO[0].Failed != 3 {
		t.Errorf("json %v: %+v", err, res)
	}
	// without --fail-on, the same failure only reports
	if _, _, code := run(t, "simulate", "--scenario", "spike", "--slo", "gateway.catchUpSeconds<=100"); code != 0 {
		t.Errorf("without --fail-on: exit %d", code)
	}
}

func TestSimulateManyConfigs(t *testing.T) {
	out, stderr, code := run(t, "simulate", "--env", "prod", "--compare", "staging", "--compare", "dev", "--compare-dir", "../../k8s/performance", "--duration", "10m", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct{ Runs []struct{ Label string } }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, r := range res.Runs {
		labels = append(labels, r.Label)
	}
	if strings.Join(labels, " ") != "prod staging dev ../../k8s/performance:prod" {
		t.Errorf("labels %v", labels)
	}
}
