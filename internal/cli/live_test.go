package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// Usage errors of the live commands are caught before any connection
// (exit 2); what they do against a cluster is tested in test/e2e.
func TestLiveUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"setup"}, "--env is required"},
		{[]string{"setup", "--env", "base"}, `--env "base": want one of dev, staging, prod`},
		{[]string{"setup", "--env", "dev", "--dry-run", "client"}, "--dry-run \"client\""},
		{[]string{"setup", "--env", "dev", "--metrics-server-variant", "x"}, "unknown metrics-server variant"},
		{[]string{"setup", "--env", "dev", "--image-tag", "a:b"}, "--image-tag"},
		{[]string{"setup", "--env", "dev", "-n", "default"}, `the manifests put every VoiceAssist object in namespace "voiceassist"`},
		{[]string{"diff", "--env", "dev", "-o", "table"}, "-o \"table\""},
		{[]string{"teardown"}, "--env is required"},
		{[]string{"rollback", "--to-revision", "-1"}, "numbered from 1"},
		{[]string{"history", "-o", "wide"}, "-o \"wide\""},
		{[]string{"version", "-o", "text"}, "-o \"text\""},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

func TestLiveCommandsHaveKubectlFlags(t *testing.T) {
	for _, verb := range []string{"setup", "diff", "history", "rollback", "teardown", "version"} {
		out, _, code := run(t, verb, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", verb, code)
		}
		for _, f := range []string{"--kubeconfig", "--context", "--namespace", "--request-timeout"} {
			if !strings.Contains(out, f) {
				t.Errorf("vactl %s --help lacks %s", verb, f)
			}
		}
	}
}

func TestVersionClient(t *testing.T) {
	out, _, code := run(t, "version", "--client", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Client.GoVersion == "" || v.Client.Version == "" || v.Server != nil {
		t.Errorf("version: %+v", v)
	}
}
