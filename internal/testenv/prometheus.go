package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// Prometheus is a prometheus server owned by one test.
type Prometheus struct {
	// URL is the server's HTTP API root, http://127.0.0.1:<port>.
	URL string
	// Dir holds its config (prometheus.yml), TSDB (data) and log.
	Dir  string
	proc *supervise.Process
}

// StartPrometheus starts prometheus on config (a prometheus.yml) with an
// empty TSDB on a free loopback port and waits until it is ready. This and
// StartPrometheusWithHistory are the one way tests start a Prometheus.
func StartPrometheus(tb testing.TB, config []byte) *Prometheus {
	tb.Helper()
	dir := tb.TempDir()
	return startPrometheus(tb, dir, config, filepath.Join(dir, "data"))
}

// StartPrometheusWithHistory backfills openMetrics (an OpenMetrics text
// exposition with timestamps, ending in "# EOF") into a fresh TSDB with
// `promtool tsdb create-blocks-from openmetrics` and starts prometheus on
// it, so range queries see exactly that history. The samples must lie
// within the last 15 days (the default retention) and before now.
func StartPrometheusWithHistory(tb testing.TB, openMetrics []byte) *Prometheus {
	tb.Helper()
	promtool := lookPath(tb, "promtool")
	dir := tb.TempDir()
	data := filepath.Join(dir, "data")
	src := filepath.Join(dir, "history.om")
	if err := os.WriteFile(src, openMetrics, 0o644); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", src, data).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	return startPrometheus(tb, dir, []byte("global:\n  scrape_interval: 1m\n"), data)
}

// startPrometheus writes config into dir and starts prometheus on the TSDB
// in data. FreePort's port is free when asked but may be taken (by a test
// in a parallel package) before prometheus binds it: a start that fails
// with "address already in use" is retried on another port.
func startPrometheus(tb testing.TB, dir string, config []byte, data string) *Prometheus {
	tb.Helper()
	bin := lookPath(tb, "prometheus")
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, config, 0o644); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	const attempts = 5
	for attempt := 1; ; attempt++ {
		// A fresh log per attempt: the retry below reads it.
		if err := os.Remove(logPath); err != nil && !os.IsNotExist(err) {
			tb.Fatalf("testenv: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
		p := &Prometheus{URL: "http://" + addr, Dir: dir}
		// Killed with the test binary, should it die before its cleanup.
		var err error
		p.proc, err = supervise.Start(supervise.Spec{Name: "prometheus", Log: logPath,
			Cmd: exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+data,
				"--web.listen-address="+addr, "--storage.tsdb.retention.time=15d")})
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		err = p.waitReady(60 * time.Second)
		if err == nil {
			tb.Cleanup(p.stop)
			return p
		}
		p.stop()
		out := readFile(logPath)
		if attempt < attempts && strings.Contains(out, "address already in use") {
			continue
		}
		tb.Fatalf("testenv: prometheus: %v\n%s", err, out)
	}
}

// Log is what prometheus wrote so far.
func (p *Prometheus) Log() string { return readFile(filepath.Join(p.Dir, "prometheus.log")) }

// waitReady polls /-/ready until it answers 200, or prometheus exits.
func (p *Prometheus) waitReady(timeout time.Duration) error {
	url := p.URL + "/-/ready"
	c := &http.Client{Timeout: time.Second}
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		if done, how := p.proc.Exited(); done {
			return false, fmt.Errorf("prometheus exited (%v) before %s was ready", how, url)
		}
		return false, nil
	})
	if err != nil && last != nil && wait.Interrupted(err) {
		return fmt.Errorf("%s not ready after %s: %w", url, timeout, last)
	}
	return err
}

func (p *Prometheus) stop() { p.proc.Stop(10 * time.Second) }
