package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
	os.WriteFile(params, []byte("gateway:\n  capacityRPS: 300\n"), 0o644)
	out, _, code := run(t, "simulate", "--params", params, "--set", "gateway.baseRPS=250", "--duration", "10m", "-o", "json")
	if code != 0 || !strings.Contains(out, `"load": 250`) {
		t.Errorf("exit %d; load 250 not in output", code)
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
		{[]string{"simulate", "-o", "yaml"}, ExitUsage, `-o "yaml"`},
		{[]string{"simulate", "--duration", "soon"}, ExitUsage, `--duration "soon"`},
		{[]string{"simulate", "--trace", badTrace}, ExitUsage, "bad.csv:2: req/s \"lots\""},
		{[]string{"simulate", "--trace", badTrace, "--scenario", "spike"}, ExitUsage, "--trace and --scenario"},
		{[]string{"simulate", "--trace", filepath.Join(dir, "none.csv")}, ExitUsage, "none.csv"},
		{[]string{"simulate", "--params", badParams}, ExitUsage, "bad.yaml: worker.jobMean: unknown field"},
		{[]string{"simulate", "--set", "gateway.capacityRPS=0"}, ExitUsage, "gateway.capacityRPS: 0 must be greater than 0"},
		{[]string{"simulate", "--dir", dir}, ExitFailure, "kustomize build"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit %d containing %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
}
