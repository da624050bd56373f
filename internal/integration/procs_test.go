package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// moduleRoot is the directory holding go.mod, found upwards from the test's
// working directory (the package directory).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
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

// procs are the subprocesses of one test. Each writes stdout and stderr to
// <name>.log in logDir; all are stopped together (SIGTERM, then SIGKILL
// after 10 s) when the test ends, and a failed test gets the tail of every log.
type procs struct {
	t      *testing.T
	logDir string
	mu     sync.Mutex
	list   []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func newProcs(t *testing.T) *procs {
	p := &procs{t: t, logDir: t.TempDir()}
	t.Cleanup(p.stopAll)
	return p
}

func (p *procs) start(name, bin string, env []string, args ...string) *proc {
	p.t.Helper()
	logPath := filepath.Join(p.logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// If the test binary dies, take the service with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", name, err)
	}
	pr := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(pr.done) }()
	p.mu.Lock()
	p.list = append(p.list, pr)
	p.mu.Unlock()
	return pr
}

// exited reports whether the process has ended (and how), without waiting.
func (pr *proc) exited() (bool, string) {
	select {
	case <-pr.done:
		return true, pr.cmd.ProcessState.String()
	default:
		return false, ""
	}
}

// alive returns an error naming the first process that has exited.
func (p *procs) alive() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.list {
		if gone, how := pr.exited(); gone {
			return fmt.Errorf("%s exited: %s\n%s", pr.name, how, tail(pr.log, 10))
		}
	}
	return nil
}

func (p *procs) stopAll() {
	p.mu.Lock()
	list := p.list
	p.mu.Unlock()
	for _, pr := range list {
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, pr := range list {
		select {
		case <-pr.done:
		case <-deadline:
			_ = pr.cmd.Process.Kill()
			<-pr.done
		}
	}
	if p.t.Failed() {
		for _, pr := range list {
			p.t.Logf("---- last lines of %s (%s) ----\n%s", pr.name, pr.log, tail(pr.log, 15))
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// promAPI is a minimal client of Prometheus's HTTP API (/api/v1/query and
// /api/v1/series); it is all the adapter uses too.
type promAPI struct {
	base string
	hc   *http.Client
}

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

func (s sample) String() string {
	keys := make([]string, 0, len(s.Metric))
	for k, v := range s.Metric {
		keys = append(keys, k+"="+strconv.Quote(v))
	}
	return fmt.Sprintf("{%s} %g", strings.Join(keys, ","), s.Value)
}

func (p promAPI) get(path string, params url.Values, data any) error {
	resp, err := p.hc.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not JSON: %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %v: %s: %s", path, params, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// query evaluates q as an instant query at time at.
func (p promAPI) query(q string, at time.Time) ([]sample, error) {
	params := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %q, want vector", q, data.ResultType)
	}
	out := make([]sample, 0, len(data.Result))
	for _, r := range data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %s: value %v is not a string", q, r.Value)
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", q, s, err)
		}
		out = append(out, sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// series lists the label sets matching selector over [start, end], as the
// adapter's discovery does with a rule's seriesQuery.
func (p promAPI) series(selector string, start, end time.Time) ([]map[string]string, error) {
	params := url.Values{"match[]": {selector},
		"start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix()+1, 10)}}
	var data []map[string]string
	err := p.get("/api/v1/series", params, &data)
	return data, err
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
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
