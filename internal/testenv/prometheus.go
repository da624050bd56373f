package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Prometheus is a prometheus server owned by one test.
type Prometheus struct {
	// URL is the server's HTTP API root, http://127.0.0.1:<port>.
	URL string
	cmd *exec.Cmd
	dir string
}

// StartPrometheusWithHistory backfills openMetrics (an OpenMetrics text
// exposition with timestamps, ending in "# EOF") into a fresh TSDB with
// `promtool tsdb create-blocks-from openmetrics` and starts prometheus on
// it, so range queries see exactly that history. The samples must lie
// within the last 15 days (the default retention) and before now.
func StartPrometheusWithHistory(tb testing.TB, openMetrics []byte) *Prometheus {
	tb.Helper()
	promtool := lookPath(tb, "promtool")
	bin := lookPath(tb, "prometheus")
	dir := tb.TempDir()
	data := filepath.Join(dir, "data")
	src := filepath.Join(dir, "history.om")
	if err := os.WriteFile(src, openMetrics, 0o644); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", src, data).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o644); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	p := &Prometheus{URL: "http://" + addr, dir: dir}
	p.cmd = exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=15d")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("testenv: start prometheus: %v", err)
	}
	tb.Cleanup(func() { p.stop(); log.Close() })
	if err := waitReady(p.URL+"/-/ready", 60*time.Second); err != nil {
		tb.Fatalf("testenv: prometheus: %v\n%s", err, readFile(log.Name()))
	}
	return p
}

// waitReady polls a readiness endpoint until it answers 200.
func waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Prometheus) stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
