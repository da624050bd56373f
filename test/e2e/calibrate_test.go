//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/calibrate"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// TestCalibrate runs `vactl calibrate --measure worker,startup` (the binary
// built from cmd/vactl, inside the cluster's network namespace, --via
// endpoints: the e2e node agent has no port-forward) against dev as
// rendered, freshly deployed: the workers' real jobs (no --simulate-work)
// and the start-up of every gateway and worker pod from its condition
// timestamps. The gateway's capacity is not measured here: the node agent
// may not enforce CPU limits, so it would measure the machine, not a pod
// (hack/calibrate measures it under a cgroup quota).
//
// It asserts that every pod of both Deployments has its phases in order
// (created ≤ scheduled ≤ initialized ≤ containers ready ≤ ready, the
// container started before it was ready), that all 100 jobs were done and
// the job_duration histogram counted them, that the concurrency seen is
// within the worker's --concurrency (4) per pod, and that the parameter
// file it wrote loads and validates as vactl simulate reads it. The run's
// JSON goes to $CALIBRATE_OUT/e2e.json when set (docs/simulate.md quotes it).
func TestCalibrate(t *testing.T) {
	ctx := scenario(t, 15*time.Minute)
	bin := vactlBinary(t)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)

	profile := filepath.Join(t.TempDir(), "profile.yaml")
	const burst = 100
	args := []string{"calibrate", "--kubeconfig", cl.AdminKubeconfig, "--via", "endpoints", "--measure", "worker,startup",
		"--burst", "100", "--job-mix", "4s", "--write-params", profile, "-o", "json"}
	cmd := cl.Netns.Command(append([]string{bin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("vactl %s: %v in %s; progress:\n%s", strings.Join(args, " "), err, time.Since(start).Round(time.Second), stderr.String())
	if err != nil {
		t.Fatalf("vactl calibrate: %v\n%s", err, stdout.String())
	}
	var res calibrate.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout.String())
	}
	if dir := os.Getenv("CALIBRATE_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "e2e.json"), stdout.Bytes(), 0o644); err != nil {
			t.Error(err)
		}
	}

	for _, dep := range []string{"voiceassist-server", "voiceassist-worker"} {
		s := res.Startup[dep]
		if s == nil {
			t.Errorf("no start-up times for %s", dep)
			continue
		}
		t.Logf("%s: pending %.0f s (max %.0f), start-up %.0f s (max %.0f), %d pods", dep, s.PendingSeconds, s.MaxPendingSeconds, s.StartupSeconds, s.MaxStartupSeconds, s.Measured)
		if s.Measured < 1 {
			t.Errorf("%s: no pod measured", dep)
		}
		for _, p := range s.Pods {
			if p.Ready < 0 {
				continue
			}
			if !(0 <= p.Scheduled && p.Scheduled <= p.Initialized && p.Initialized <= p.ContainersReady && p.ContainersReady <= p.Ready && p.Started <= p.Ready) {
				t.Errorf("%s: phases out of order: %+v", dep, p)
			}
		}
	}
	w := res.Worker
	if w == nil {
		t.Fatal("no worker measurement")
	}
	t.Logf("worker: %d pods, %d done in %.0f s, service mean %.3f s (p50 %.3f, p95 %.3f, CV %.2f), concurrency %d, %.4f CPU-s a job",
		w.Pods, w.Done, w.DrainSeconds, w.Service.Mean, w.Service.P50, w.Service.P95, w.Service.CV, w.Concurrency, w.CPUSecondsPerJob)
	if w.Done != burst || w.Service.Count < burst {
		t.Errorf("%d jobs done, %v counted by job_duration: want all %d", w.Done, w.Service.Count, burst)
	}
	if w.Service.Mean <= 0 || w.Concurrency < 1 || w.Concurrency > 4 {
		t.Errorf("service mean %v s, concurrency %d: want a mean above 0 and 1–4 jobs at once per worker", w.Service.Mean, w.Concurrency)
	}
	p := sim.DefaultParams()
	if err := sim.LoadParams(&p, profile); err != nil {
		t.Fatalf("the written profile does not load: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("the written profile does not validate: %v", err)
	}
	if p.Profile.Source != "vactl calibrate" || p.Worker.PendingSeconds != res.Startup["voiceassist-worker"].PendingSeconds {
		t.Errorf("profile %+v, worker pending %v: want source vactl calibrate and the measured start-up", p.Profile, p.Worker.PendingSeconds)
	}
}
