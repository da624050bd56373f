package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// moduleRoot is the repository's top directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// mustLookPath fails (never skips) when a required binary is missing.
func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found on PATH: run scripts/setup-debian.sh (it installs Debian's prometheus package)", name)
	}
	return p
}

// binaries are the three services, built from this module.
type binaries struct{ server, worker, exporter string }

// buildBinaries runs `go build` for the three commands into dir. It is
// called from a goroutine, so it returns an error instead of failing t.
func buildBinaries(root, dir string) (binaries, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return binaries{}, fmt.Errorf("go not on PATH: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator),
		"./cmd/voiceassist-server", "./cmd/voiceassist-worker", "./cmd/queue-exporter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return binaries{
		server:   filepath.Join(dir, "voiceassist-server"),
		worker:   filepath.Join(dir, "voiceassist-worker"),
		exporter: filepath.Join(dir, "queue-exporter"),
	}, nil
}

// procs are the subprocesses of one test (test/e2e/supervise). Each writes
// stdout and stderr to <name>.log in logDir; all are stopped together
// (SIGTERM, then SIGKILL after 10 s, last started first) when the test
// ends, and a failed test gets the tail of every log.
type procs struct {
	t      *testing.T
	logDir string
	group  supervise.Group
}

func newProcs(t *testing.T) *procs {
	p := &procs{t: t, logDir: t.TempDir()}
	t.Cleanup(p.stopAll)
	return p
}

func (p *procs) start(name, bin string, env []string, args ...string) *supervise.Process {
	p.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, err := supervise.Start(supervise.Spec{Name: name, Cmd: cmd, Log: filepath.Join(p.logDir, name+".log")})
	if err != nil {
		p.t.Fatal(err)
	}
	p.group.Add(pr)
	return pr
}

// alive returns an error naming the processes that have exited.
func (p *procs) alive() error { return p.group.Dead(10) }

func (p *procs) stopAll() {
	list := p.group.List()
	p.group.StopAll(10 * time.Second)
	if p.t.Failed() {
		for _, pr := range list {
			p.t.Logf("---- last lines of %s (%s) ----\n%s", pr.Name, pr.Log, pr.Tail(15))
		}
	}
}

// promAPI queries Prometheus's HTTP API with client_golang's client: the
// instant queries and the series lookups (/api/v1/query, /api/v1/series)
// that are all the adapter uses too.
type promAPI struct{ api promv1.API }

func newPromAPI(t *testing.T, addr string) promAPI {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: "http://" + addr, Client: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return promAPI{promv1.NewAPI(c)}
}

// sample is one element of an instant vector.
type sample = testenv.Sample

// query evaluates q as an instant query at time at.
func (p promAPI) query(q string, at time.Time) ([]sample, error) {
	return testenv.InstantVector(context.Background(), p.api, q, at)
}

// series lists the label sets matching selector over [start, end] (whole
// seconds, end rounded up), as the adapter's discovery does with a rule's
// seriesQuery.
func (p promAPI) series(selector string, start, end time.Time) ([]map[string]string, error) {
	sets, _, _, err := p.api.Series(context.Background(), []string{selector}, time.Unix(start.Unix(), 0), time.Unix(end.Unix()+1, 0))
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", selector, err)
	}
	out := make([]map[string]string, 0, len(sets))
	for _, ls := range sets {
		m := make(map[string]string, len(ls))
		for k, v := range ls {
			m[string(k)] = string(v)
		}
		out = append(out, m)
	}
	return out, nil
}

// one evaluates q and requires exactly one sample.
func (p promAPI) one(q string, at time.Time) (sample, error) {
	r, err := p.query(q, at)
	if err != nil {
		return sample{}, err
	}
	if len(r) != 1 {
		return sample{}, fmt.Errorf("query %s: %d samples %v, want exactly 1", q, len(r), r)
	}
	return r[0], nil
}

// poll calls f every 200 ms until it returns nil or timeout passes, and
// returns f's last error then.
func poll(timeout time.Duration, f func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("after %s: %w", timeout, last)
	}
	return nil
}

var errNotYet = errors.New("not yet")
