//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The harness of the e2e scenarios (the *_test.go files), by concern:
//
//   - main_test.go: TestMain starts one cluster for the package (cluster,
//     node agent, metrics stack); scenario bounds one test;
//   - metrics_server.go: metrics-server, rendered and mapped from its image
//     to the locally built binary;
//   - prometheus.go: Prometheus, kubernetes-sd and the metrics provider;
//   - deploy.go: applying rendered objects in kubectl's order and waiting
//     for the rollout; installing metrics-server as the README's step 1;
//   - waits.go: eventually (poll until nil or the context ends), the
//     workload readiness waits, APIService availability;
//   - hpa_describe.go: HPA conditions and current metrics as kubectl
//     prints them, for failure messages;
//   - traffic.go: HTTP into the cluster's namespace (pod IPs), a
//     client-side Service balancer, test audio;
//   - this file: knobs, run-wide cleanup, and running the vactl binary
//     (vactlRunner: every scenario that runs vactl goes through it).
//
// The control plane itself is test/e2e/cluster, the kubelet stand-in
// test/e2e/nodeagent; both share test/e2e/netns and test/e2e/supervise.

// harnessCleanup runs when TestMain ends, told whether the run failed.
var harnessCleanup []func(failed bool)

// envInt reads an integer knob, def when unset.
func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}

var (
	vactlOnce sync.Once
	vactlPath string
	vactlErr  error
)

// vactlBinary builds cmd/vactl once per run, as a user would install it
// (or waits for prebuildVactl's build).
func vactlBinary(t *testing.T) string {
	t.Helper()
	vactlOnce.Do(buildVactl)
	if vactlErr != nil {
		t.Fatal(vactlErr)
	}
	return vactlPath
}

// prebuildVactl starts vactl's build in the background (TestMain calls
// it), so that it overlaps the cluster's start-up (mostly waiting) instead
// of holding up the first scenario that runs vactl (a minute on a loaded
// machine). The binary's directory is made and its removal registered
// here, on TestMain's goroutine.
func prebuildVactl() {
	dir, err := os.MkdirTemp("", "va-e2e-vactl-")
	if err != nil {
		vactlOnce.Do(func() { vactlErr = err })
		return
	}
	harnessCleanup = append(harnessCleanup, func(bool) { os.RemoveAll(dir) })
	vactlPath = filepath.Join(dir, "vactl")
	go vactlOnce.Do(buildVactl)
}

func buildVactl() {
	if vactlPath == "" {
		vactlErr = errors.New("vactl is built from TestMain's prebuildVactl, which did not run")
		return
	}
	root, err := repoRoot()
	if err != nil {
		vactlErr = err
		return
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", vactlPath, "./cmd/vactl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		vactlErr = fmt.Errorf("go build ./cmd/vactl: %v\n%s", err, out)
		return
	}
	log.Printf("vactl built in %.1fs (in the background): %s", time.Since(start).Seconds(), vactlPath)
}

// vactlRunner runs the vactl binary (vactlBinary) inside the cluster's
// network namespace, as an operator on a machine that reaches the API
// server would: every call gets --kubeconfig and a discovery --cache-dir
// of the runner's own (one per test, so no scenario sees another's
// cached discovery).
type vactlRunner struct {
	bin, cache string
}

func newVactlRunner(t *testing.T) *vactlRunner {
	return &vactlRunner{bin: vactlBinary(t), cache: t.TempDir()}
}

// vactlResult is one vactl run's output and exit code.
type vactlResult struct {
	stdout, stderr string
	code           int
}

// exec runs vactl with args, --kubeconfig kubeconfig and the cache dir;
// stdout and stderr go to the given writers. It fails the test only when
// vactl could not be run; a non-zero exit is the caller's to judge.
func (v *vactlRunner) exec(t *testing.T, stdout, stderr io.Writer, kubeconfig string, args ...string) (int, time.Duration) {
	t.Helper()
	argv := append([]string{v.bin}, args...)
	argv = append(argv, "--kubeconfig", kubeconfig, "--cache-dir", v.cache)
	cmd := cl.Netns.Command(argv...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), time.Since(start)
	} else if err != nil {
		t.Fatalf("vactl %s: %v", strings.Join(args, " "), err)
	}
	return 0, time.Since(start)
}

// run returns vactl's output (stdout and stderr, interleaved as written)
// and exit code, and logs both.
func (v *vactlRunner) run(t *testing.T, kubeconfig string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code, took := v.exec(t, &out, &out, kubeconfig, args...)
	t.Logf("vactl %s: exit %d in %.1fs\n%s", strings.Join(args, " "), code, took.Seconds(), logged(out.String()))
	return out.String(), code
}

// must is run that fails the test unless vactl exits 0.
func (v *vactlRunner) must(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, code := v.run(t, kubeconfig, args...)
	if code != 0 {
		t.Fatalf("vactl %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

// split is run with stdout and stderr apart (stdout is data with -o json).
func (v *vactlRunner) split(t *testing.T, kubeconfig string, args ...string) vactlResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code, took := v.exec(t, &out, &errOut, kubeconfig, args...)
	t.Logf("vactl %s: exit %d in %.1fs\n%s%s", strings.Join(args, " "), code, took.Seconds(), logged(out.String()), errOut.String())
	return vactlResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// logged shortens what a test log shows of a long output.
func logged(s string) string {
	if len(s) > 20000 {
		return s[:20000] + "…"
	}
	return s
}

// copyManifests copies k8s/performance into a temporary directory (for
// vactl --dir with a changed overlay) and returns the copy's path.
func copyManifests(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "performance")
	if out, err := exec.Command("cp", "-rL", filepath.Join(root, "k8s", "performance"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dir
}
