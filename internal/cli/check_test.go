package cli

import (
	"strings"
	"testing"
)

// Usage errors of vactl check and vactl lint --live come before any
// connection (exit 2); what they find on a cluster is tested in test/e2e
// (TestCheck).
func TestCheckAndLiveLintUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "--env is required"},
		{[]string{"check", "--env", "base"}, `--env "base": want one of dev, staging, prod`},
		{[]string{"check", "--env", "dev", "-o", "yaml"}, `-o "yaml": want text, json or markdown`},
		{[]string{"check", "--env", "dev", "-n", "default"}, `namespace "voiceassist"`},
		{[]string{"check", "--env", "dev", "--config", "/nonexistent/.vactl.yaml"}, "--config"},
		{[]string{"lint", "--live", "-f", "x.yaml"}, "--live lints the cluster and -f your files"},
		{[]string{"lint", "--live", "--env", "base"}, `--env "base": want one of dev, staging, prod`},
		{[]string{"lint", "--live", "--env", "dev", "-n", "kube-system"}, `namespace "voiceassist"`},
		{[]string{"check", "--env", "dev", "--image-tag", "1.5.0"}, "unknown flag: --image-tag"},
		{[]string{"check", "--env", "dev", "--image-registry", "r.example"}, "unknown flag: --image-registry"},
		{[]string{"doctor", "--dir", "k8s/performance"}, "--dir k8s/performance: needs --env"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// An unreachable cluster is a failure (exit 1) naming the server.
func TestCheckUnreachable(t *testing.T) {
	for _, args := range [][]string{
		{"check", "--env", "dev", "--server", "https://127.0.0.1:1", "--token", "x"},
		{"lint", "--live", "--env", "dev", "--server", "https://127.0.0.1:1", "--token", "x"},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitFailure || !strings.Contains(stderr, "cannot reach the API server https://127.0.0.1:1") {
			t.Errorf("vactl %s: exit %d, stderr %q; want 1 naming the server", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestCheckHelp(t *testing.T) {
	out, _, code := run(t, "check", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--kubeconfig", "--context", "--prometheus-url", "Metrics Server installed and verified", "Team trained", "-o markdown"} {
		if !strings.Contains(out, want) {
			t.Errorf("check --help lacks %q", want)
		}
	}
	out, _, _ = run(t, "__complete", "check", "-o", "")
	for _, f := range checkFormats {
		if !strings.Contains(out, f) {
			t.Errorf("completion of check -o lacks %s:\n%s", f, out)
		}
	}
}

// vactl lint's connection flags apply to --live only: --help says so, and
// without --live they are ignored as kubectl's global flags are by its
// offline commands (a script passes --kubeconfig to every command).
func TestLintConnectionFlagsLiveOnly(t *testing.T) {
	out, _, code := run(t, "lint", "--help")
	for _, want := range []string{"with --live: The name of the kubeconfig context to use", "with --live: Path to the kubeconfig file", "with --live: how long reading the cluster may take"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("lint --help: exit %d, lacks %q", code, want)
		}
	}
	if strings.Contains(out, "with --live: with --live:") {
		t.Error("lint --help: prefix twice")
	}
	_, stderr, code := run(t, "lint", "--env", "dev", "--kubeconfig", "/nonexistent/kubeconfig", "--context", "nosuch", "--server", "https://127.0.0.1:1")
	if code == ExitUsage || strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("lint --env dev with connection flags: exit %d, stderr %q; want them ignored", code, stderr)
	}
}
