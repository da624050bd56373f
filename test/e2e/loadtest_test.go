//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/loadtest"
)

// TestLoadtestSpike runs `vactl loadtest api` itself, the binary built from
// cmd/vactl, against the scaling overlay (gateway 3–7 pods at a fifth of
// the CPU, scale-down ÷VA_E2E_TIME_FACTOR) with simulate's spike: 10 req/s
// of POST /v1/analyze with 4 s 44.1 kHz WAVs, at 20 s up to 4x (40 req/s,
// TestScaleGateway's rate, which takes the gateway to its maximum) within
// 10 s, held 2.5 min, then down; then the automatic cool-down, from the live
// HPAs' scale-down behavior. It asserts the report and the namespace record:
//
//   - requests were sent at the profile's total rate and really analysed
//     (at most 5 % errors while the gateway scales);
//   - the gateway HPA scaled up (a first scale-up time, a peak above 3), and
//     came back to its minimum within the cool-down;
//   - the timeline has the HPA's CPU metric and the worker HPA's External
//     queue metrics read from external.metrics.k8s.io;
//   - the exit code agrees with the verdict, and the verdict, the profile
//     and the time are in the namespace annotation vactl check reads.
//
// The gateway is reached with --via endpoints: vactl runs inside the
// cluster's network namespace. The e2e node agent has no port-forward
// (docs/node-agent.md, "Not done"), so --via port-forward, the default, is
// not exercised here.
func TestLoadtestSpike(t *testing.T) {
	ctx := scenario(t, 25*time.Minute)
	bin := vactlBinary(t)
	r := scalingOverlay(t)
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", gwMin)
	waitHPASteady(ctx, t, "voiceassist-server-hpa", gwMin)

	png := filepath.Join(t.TempDir(), "spike.png")
	args := []string{"loadtest", "api", "--kubeconfig", cl.AdminKubeconfig, "--via", "endpoints",
		"--profile", "spike", "--rate", "10", "--factor", "4", "--start", "20s", "--rise", "10s", "--hold", "150s",
		"--mix", "4s", "--sample-rate", "44100", "--slo", "errors=5%", "--env", "dev", "-o", "json", "--png", png}
	cmd := cl.Netns.Command(append([]string{bin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("vactl loadtest: %v", err)
	}
	t.Logf("vactl %s: exit %d in %s; progress:\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Second), tail(stderr.String(), 60))
	var rep loadtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	var text bytes.Buffer
	if err := loadtest.WriteText(&text, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())

	if want := map[string]int{"pass": 0, "fail": 1}[rep.Verdict]; code != want || (rep.Verdict != "pass" && rep.Verdict != "fail") {
		t.Errorf("exit %d with verdict %q: want exit %d", code, rep.Verdict, want)
	}
	if rep.Interrupted {
		t.Errorf("the run says it was interrupted")
	}
	a := rep.API
	if a == nil {
		t.Fatal("no api traffic in the report")
	}
	// spike: 20 s at 10, 10 s up, 150 s at 40, 10 s down, 60 s at 10 req/s
	want := 10*20 + 25*10 + 40*150 + 25*10 + 10*60
	if a.Requests < want*95/100 || a.Requests > want*105/100 {
		t.Errorf("%d requests sent, want about %d (the spike's total)", a.Requests, want)
	}
	if a.OK < a.Requests*95/100 {
		t.Errorf("%d of %d requests analysed (errors %v): want at least 95 %%", a.OK, a.Requests, a.Errors)
	}
	if a.PeakOffered < 39 || a.PeakOffered > 41 {
		t.Errorf("peak offered %.1f req/s, want 40", a.PeakOffered)
	}
	var gw *loadtest.HPASummary
	for i := range rep.HPAs {
		if rep.HPAs[i].Name == "voiceassist-server-hpa" {
			gw = &rep.HPAs[i]
		}
	}
	if gw == nil {
		t.Fatalf("no voiceassist-server-hpa in the report: %+v", rep.HPAs)
	}
	if gw.FirstScaleUpSeconds < 0 || gw.Peak <= gwMin {
		t.Errorf("gateway HPA: first scale-up %ds, peak %d: want a scale-up above %d under 40 req/s", gw.FirstScaleUpSeconds, gw.Peak, gwMin)
	}
	if gw.FirstScaleUpSeconds >= 0 && gw.FirstScaleUpSeconds < 20 {
		t.Errorf("gateway HPA scaled up at %ds, before the spike began (20s)", gw.FirstScaleUpSeconds)
	}
	if rep.CooldownSeconds <= 0 || !strings.Contains(rep.CooldownFrom, "scale-down window") {
		t.Errorf("cool-down %ds (%s): want one computed from the live HPAs", rep.CooldownSeconds, rep.CooldownFrom)
	}
	if gw.BackToMinSeconds < 0 {
		t.Errorf("gateway HPA not back to %d within the %ds cool-down", gwMin, rep.CooldownSeconds)
	}
	cpuKnown, queueRead := false, false
	for _, s := range rep.Timeline {
		if s.Cluster == nil {
			continue
		}
		for _, h := range s.Cluster.HPAs {
			for _, m := range h.Metrics {
				if h.Name == "voiceassist-server-hpa" && m.Key == "Resource/cpu" && m.Known && m.Current > 0 {
					cpuKnown = true
				}
			}
		}
		for _, e := range s.Cluster.External {
			if e.Metric == "voiceassist_queue_depth" && e.Error == "" {
				queueRead = true
			}
		}
	}
	if !cpuKnown {
		t.Errorf("no second of the timeline has the gateway HPA's CPU utilization")
	}
	if !queueRead {
		t.Errorf("no second of the timeline has voiceassist_queue_depth from external.metrics.k8s.io")
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("--png %s: %v", png, err)
	}

	c, err := cluster.Connect(adminFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.LastLoadtest(ctx, cluster.Namespace)
	switch {
	case err != nil:
		t.Fatal(err)
	case !ok:
		t.Fatalf("namespace %s has no %s annotation after the run", cluster.Namespace, cluster.LoadtestAnnotation)
	}
	if rec.Verdict != rep.Verdict || rec.Target != "api" || rec.Profile != "spike" || rec.Env != "dev" ||
		rec.Time.Before(start.Add(-time.Second)) || rec.Time.After(time.Now()) {
		t.Errorf("record %+v: want verdict %s, target api, profile spike, env dev, a time within the run", rec, rep.Verdict)
	}
	t.Logf("namespace record: %+v", rec)
}

// adminFlags are connection flags for the admin kubeconfig.
func adminFlags(t *testing.T) *genericclioptions.ConfigFlags {
	t.Helper()
	f := cluster.NewConfigFlags()
	kc := cl.AdminKubeconfig
	f.KubeConfig = &kc
	return f
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = append([]string{"…"}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
