package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewCommand(IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), ExitCode(err)
}

func TestRenderYAML(t *testing.T) {
	out, _, code := run(t, "render", "--env", "prod")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"name: voiceassist-server-hpa", "maxReplicas: 15", "kind: VerticalPodAutoscaler"} {
		if !strings.Contains(out, want) {
			t.Errorf("prod render lacks %q", want)
		}
	}
}

func TestRenderJSONList(t *testing.T) {
	out, _, code := run(t, "render", "--env", "dev", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) < 20 {
		t.Fatalf("got kind %q with %d items", list.Kind, len(list.Items))
	}
}

func TestRenderErrors(t *testing.T) {
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "kustomization.yaml"), []byte("resources:\n  - nothere.yaml\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"render", "--env", "qa"}, ExitUsage, `unknown environment "qa"`},
		{[]string{"render", "-o", "toml"}, ExitUsage, `-o "toml"`},
		{[]string{"render", "--nope"}, ExitUsage, "unknown flag"},
		{[]string{"render", "extra"}, ExitUsage, "unknown command"},
		{[]string{"render", "--dir", broken}, ExitFailure, "nothere.yaml"},
		{[]string{"render", "--dir", broken, "--env", "prod"}, ExitFailure, "no such directory"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit %d containing %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
}
