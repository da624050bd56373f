//go:build calibrate

// Package calibrate (hack/calibrate) runs `vactl calibrate` against the real
// voiceassist-server and voiceassist-worker binaries of this repository, on
// real Redis and PostgreSQL (internal/testenv), with each process's CPU
// limited by a cgroup v1 CFS quota: at the prod pods' CPU requests (gateway
// 500m, worker 1000m) and at half of them, interleaved, several times. It
// checks that the gateway's capacity follows its CPU and writes the
// parameter files. Needs root (/sys/fs/cgroup/cpu writable):
//
//	go test -tags calibrate -run TestCalibrateLocal -v -timeout 60m ./hack/calibrate/
//
// CALIBRATE_RUNS (3) runs per CPU level, CALIBRATE_STEP (15s) per gateway
// step, CALIBRATE_OUT (a temporary directory) keeps every run's JSON and
// parameter file, CALIBRATE_PROFILE writes the prod-CPU run of median CPU
// per request there (internal/sim/profile.yaml is that file, with a header).
// TestCalibrateCheck (CALIBRATE_FROM=dir) re-checks saved runs.
package calibrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/calibrate"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// level is one CPU setting: the quota of each process, in millicores.
type level struct {
	name            string
	gateway, worker int64
}

// The prod overlay's CPU requests (k8s/performance/base/resource-limits.yaml),
// which the simulator takes as a pod's CPU (run.cpuBurst 0), and half.
var levels = []level{{"prod", 500, 1000}, {"half", 250, 500}}

const period = 100000 // µs, the kernel's default CFS period

// cpuGroup is a cgroup v1 cpu controller group with a CFS quota.
func cpuGroup(t *testing.T, name string, millis int64) cgroup1.Cgroup {
	t.Helper()
	hier := cgroup1.SingleSubsystem(cgroup1.Default, cgroup1.Cpu)
	path := fmt.Sprintf("/vactl-calibrate-%d/%s", os.Getpid(), name)
	cg, err := cgroup1.New(cgroup1.StaticPath(path), quota(millis), cgroup1.WithHierarchy(hier))
	if err != nil {
		t.Fatalf("cgroup %s (needs root and a writable /sys/fs/cgroup/cpu): %v", path, err)
	}
	t.Cleanup(func() {
		if err := cg.Delete(); err != nil {
			t.Logf("cgroup %s: delete: %v", path, err)
		}
		_ = os.Remove(filepath.Join("/sys/fs/cgroup/cpu", filepath.Dir(path)))
	})
	return cg
}

// quota is a CFS quota of millis per period, and the most cpu.shares: on
// this shared machine the other processes (in the root group, each weighing
// as much as a group with the default 1024 shares) would otherwise leave a
// group far less than its quota, and the load of the machine, not the CPU
// limit, would set the capacity. On a node the kubelet's cpu.shares from the
// pod's CPU request do the same: the pod gets its request.
func quota(millis int64) *specs.LinuxResources {
	q, p, shares := millis*period/1000, uint64(period), uint64(262144)
	return &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &q, Period: &p, Shares: &shares}}
}

func build(t *testing.T, root, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/voiceassist-server", "./cmd/voiceassist-worker", "./cmd/vactl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func waitReady(t *testing.T, p *supervise.Process, base string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if !p.Running() {
			return false, fmt.Errorf("%s exited:\n%s", p.Name, p.Tail(20))
		}
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s at %s not ready: %v", p.Name, base, err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestCalibrateLocal(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	runs := envInt("CALIBRATE_RUNS", 3)
	step := os.Getenv("CALIBRATE_STEP")
	if step == "" {
		step = "15s"
	}
	out := os.Getenv("CALIBRATE_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build(t, root, bin)
	rds := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t)

	gwCG := cpuGroup(t, "gateway", levels[0].gateway)
	wkCG := cpuGroup(t, "worker", levels[0].worker)
	var group supervise.Group
	t.Cleanup(func() { group.StopAll(10 * time.Second) })
	start := func(name string, cg cgroup1.Cgroup, args ...string) (*supervise.Process, string) {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cmd := exec.Command(filepath.Join(bin, name), append([]string{"--listen", addr, "--redis-addr", rds.Addr, "--queue", "calibrate"}, args...)...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+pg.DSN)
		p, err := supervise.Start(supervise.Spec{Name: name, Cmd: cmd, Log: filepath.Join(out, name+".log")})
		if err != nil {
			t.Fatal(err)
		}
		group.Add(p)
		if err := cg.AddProc(uint64(p.Pid())); err != nil {
			t.Fatalf("%s into its cgroup: %v", name, err)
		}
		base := "http://" + addr
		waitReady(t, p, base)
		return p, base
	}
	// the gateway authenticates /v1 as in a pod; vactl sends the key
	key, keysFile := testenv.APIKey(t, "calibrate")
	keyFile := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// and serves its /metrics on a listener of its own (--metrics-listen)
	gwMetrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	_, gw := start("voiceassist-server", gwCG, "--api-keys-file", keysFile, "--metrics-listen", gwMetrics)
	_, wk := start("voiceassist-worker", wkCG)

	results := map[string][]*calibrate.Result{}
	files := map[string][]string{}
	for i := 1; i <= runs; i++ {
		for _, l := range levels {
			for _, u := range []struct {
				cg cgroup1.Cgroup
				m  int64
			}{{gwCG, l.gateway}, {wkCG, l.worker}} {
				if err := u.cg.Update(quota(u.m)); err != nil {
					t.Fatal(err)
				}
			}
			load, _ := os.ReadFile("/proc/loadavg")
			prefix := filepath.Join(out, fmt.Sprintf("%s-%d", l.name, i))
			note := fmt.Sprintf("local processes, CPU limited by a cgroup v1 CFS quota: gateway %dm, worker %dm (hack/calibrate, run %d of %d).", l.gateway, l.worker, i, runs)
			args := []string{"calibrate", "--url", gw, "--gateway-metrics", "http://" + gwMetrics + "/metrics", "--worker-metrics", wk + "/metrics", "--api-key-file", keyFile,
				"--gateway-cpu", fmt.Sprintf("%dm", l.gateway), "--worker-cpu", fmt.Sprintf("%dm", l.worker), "--step", step,
				"--mix", "1s", // the clip of docs/benchmarks.md's /v1/analyze benchmark, so the figures compare
				"--note", note, "--write-params", prefix + ".yaml", "-o", "json"}
			t.Logf("run %d, %s CPU (gateway %dm, worker %dm), load average %s: vactl %s", i, l.name, l.gateway, l.worker,
				strings.Join(strings.Fields(string(load))[:3], " "), strings.Join(args, " "))
			cmd := exec.Command(filepath.Join(bin, "vactl"), args...)
			var stdout, stderr bytes.Buffer
			logFile, err := os.Create(prefix + ".log") // progress as it comes
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(&stderr, logFile)
			err = cmd.Run()
			logFile.Close()
			if err != nil {
				t.Fatalf("vactl calibrate: %v\n%s", err, stderr.String())
			}
			if err := os.WriteFile(prefix+".json", stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			var res calibrate.Result
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("vactl calibrate -o json: %v", err)
			}
			g, w := res.Gateway, res.Worker
			t.Logf("  gateway %.1f req/s at p95 ≤ %.0f ms (first over %.1f), %.2f m·s/req, idle %.1fm → saturation %.1f req/s; worker mean %.3f s (CV %.2f), concurrency %d, %.4f CPU-s/job, full speed %.3f s at %.0fm",
				g.CapacityPerPodRPS, g.P95SLOMs, g.FirstBadRPS, g.CPUPerRequest, g.IdleCPU, g.SaturationRPS,
				w.Service.Mean, w.Service.CV, w.Concurrency, w.CPUSecondsPerJob, w.FullSpeedSeconds, w.CPUPerJob)
			for _, cg := range []cgroup1.Cgroup{gwCG, wkCG} {
				if st, err := cg.Stat(cgroup1.IgnoreNotExist); err == nil && st.CPU != nil && st.CPU.Throttling != nil {
					t.Logf("  cgroup throttled periods so far: %d of %d", st.CPU.Throttling.ThrottledPeriods, st.CPU.Throttling.Periods)
				}
			}
			results[l.name] = append(results[l.name], &res)
			files[l.name] = append(files[l.name], prefix+".yaml")
		}
	}
	checkResults(t, results, files)
	t.Logf("every run's JSON, log and parameter file: %s", out)
}

// TestCalibrateCheck re-checks the runs TestCalibrateLocal saved in
// $CALIBRATE_FROM (its CALIBRATE_OUT) without measuring again.
func TestCalibrateCheck(t *testing.T) {
	dir := os.Getenv("CALIBRATE_FROM")
	if dir == "" {
		t.Fatal("set CALIBRATE_FROM to a CALIBRATE_OUT directory of TestCalibrateLocal")
	}
	results := map[string][]*calibrate.Result{}
	files := map[string][]string{}
	for _, l := range levels {
		for i := 1; ; i++ {
			prefix := filepath.Join(dir, fmt.Sprintf("%s-%d", l.name, i))
			data, err := os.ReadFile(prefix + ".json")
			if err != nil {
				break
			}
			var res calibrate.Result
			if err := json.Unmarshal(data, &res); err != nil {
				t.Fatalf("%s.json: %v", prefix, err)
			}
			results[l.name] = append(results[l.name], &res)
			files[l.name] = append(files[l.name], prefix+".yaml")
		}
	}
	checkResults(t, results, files)
}

// checkResults reports the spread of every figure and checks that capacity
// follows CPU:
//   - the CPU per request (what the simulator's capacity is computed from)
//     is the same at both CPU levels, within 25 % (medians);
//   - in the runs whose gateway got its quota (a step used at least 80 % of
//     it: on a loaded machine the neighbours, not the quota, can be the
//     limit, and then the capacity measures the machine), half the CPU
//     gives 0.35-0.65 of the capacity at the SLO. No such run at either
//     level is a failure: nothing then shows it.
//
// CALIBRATE_PROFILE gets the prod run of median CPU per request.
func checkResults(t *testing.T, results map[string][]*calibrate.Result, files map[string][]string) {
	t.Helper()
	med := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	cpuReq, bound := map[string]float64{}, map[string][]float64{}
	for _, l := range levels {
		var capacity, perReq, sat, jobMean, jobCV []float64
		for _, r := range results[l.name] {
			g, w := r.Gateway, r.Worker
			capacity, perReq, sat = append(capacity, g.CapacityPerPodRPS), append(perReq, g.CPUPerRequest), append(sat, g.SaturationRPS)
			jobMean, jobCV = append(jobMean, w.Service.Mean), append(jobCV, w.Service.CV)
			most := 0.0
			for _, s := range g.Steps {
				most = max(most, s.CPUMillicores)
			}
			if most >= 0.8*float64(l.gateway) {
				bound[l.name] = append(bound[l.name], g.CapacityPerPodRPS)
			}
			t.Logf("%s %s: capacity %.1f req/s, most CPU used %.0fm of %dm, %.2f m·s/req, saturation %.1f req/s; worker mean %.3f s CV %.2f",
				l.name, r.Date, g.CapacityPerPodRPS, most, l.gateway, g.CPUPerRequest, g.SaturationRPS, w.Service.Mean, w.Service.CV)
		}
		if len(perReq) == 0 {
			t.Fatalf("no %s runs", l.name)
		}
		cpuReq[l.name] = med(perReq)
		t.Logf("%s (gateway %dm, worker %dm), %d runs: capacity at the SLO %v req/s (median %.1f); CPU per request %v (median %.2f); saturation %v; worker mean %v s, CV %v",
			l.name, l.gateway, l.worker, len(perReq), capacity, med(capacity), perReq, cpuReq[l.name], sat, jobMean, jobCV)
	}
	if r := cpuReq["half"] / cpuReq["prod"]; r < 0.75 || r > 1.25 {
		t.Errorf("CPU per request %.2f at half the CPU against %.2f: want the same within 25 %%", cpuReq["half"], cpuReq["prod"])
	}
	if len(bound["prod"]) == 0 || len(bound["half"]) == 0 {
		t.Errorf("runs whose gateway got 80 %% of its quota: prod %v, half %v: the machine was the limit, capacity cannot be compared", bound["prod"], bound["half"])
	} else {
		ratio := med(bound["half"]) / med(bound["prod"])
		t.Logf("runs that got their quota: prod %v, half %v req/s: half the CPU gives %.2f of the capacity", bound["prod"], bound["half"], ratio)
		if ratio < 0.35 || ratio > 0.65 {
			t.Errorf("half the CPU gave %.2f of the capacity: want about half (0.35-0.65)", ratio)
		}
	}
	if dst := os.Getenv("CALIBRATE_PROFILE"); dst != "" {
		i, m := 0, cpuReq["prod"]
		for j, r := range results["prod"] {
			if r.Gateway.CPUPerRequest == m {
				i = j
			}
		}
		data, err := os.ReadFile(files["prod"][i])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from %s", dst, files["prod"][i])
	}
}
