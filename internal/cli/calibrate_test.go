package cli

import (
	"strings"
	"testing"
)

// Bad flags are usage errors (exit 2) that name the flag, before any load.
func TestCalibrateUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"calibrate", "--measure", "disk"}, `--measure "disk"`},
		{[]string{"calibrate", "-o", "csv"}, `-o "csv"`},
		{[]string{"calibrate", "--url", "ftp://x"}, `--url "ftp://x"`},
		{[]string{"calibrate", "--url", "http://127.0.0.1:1"}, "--gateway-metrics"},
		{[]string{"calibrate", "--url", "http://127.0.0.1:1", "--measure", "worker"}, "--worker-metrics"},
		{[]string{"calibrate", "--url", "http://127.0.0.1:1", "--measure", "startup"}, "needs a cluster"},
		{[]string{"calibrate", "--url", "http://127.0.0.1:1", "--gateway-metrics", "http://127.0.0.1:1/metrics", "--gateway-cpu", "lots", "--measure", "gateway"}, `--gateway-cpu "lots"`},
		{[]string{"calibrate", "--burst", "0"}, "--burst 0"},
		{[]string{"calibrate", "--mix", "0s"}, "--mix"},
		{[]string{"calibrate", "--params", "/nonexistent/p.yaml"}, "--params"},
		{[]string{"calibrate", "--gateway-metrics", "http://127.0.0.1:1/metrics"}, "go with --url"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit 2 containing %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// A process that cannot be scraped is a failure (exit 1) naming it.
func TestCalibrateUnreachable(t *testing.T) {
	_, stderr, code := run(t, "calibrate", "--url", "http://127.0.0.1:1", "--gateway-metrics", "http://127.0.0.1:1/metrics", "--measure", "gateway", "--idle", "10ms")
	if code != ExitFailure || !strings.Contains(stderr, "scrape http://127.0.0.1:1/metrics") {
		t.Errorf("exit %d %q, want 1 naming the scrape", code, stderr)
	}
}

func TestCalibrateHelp(t *testing.T) {
	out, _, code := run(t, "calibrate", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"process_cpu_seconds_total", "job_duration", "PodScheduled", "--write-params", "--slo-p95", "-o, --output"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
