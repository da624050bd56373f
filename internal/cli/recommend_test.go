package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/recommend"
)

const topCapture = `POD                                  NAME     CPU(cores)   MEMORY(bytes)
voiceassist-server-7f9c6d5b8-k2x4q   server   120m         300Mi
voiceassist-worker-5c8d7f6b9-h3j5m   worker   900m         700Mi
`

func TestRecommendOutputs(t *testing.T) {
	dir := t.TempDir()
	top := filepath.Join(dir, "baseline.txt")
	if err := os.WriteFile(top, []byte(topCapture), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "recommend", "--env", "dev", "--top", top)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Deployment voiceassist/voiceassist-server", "250m → 143m", "cpu: p90 of 1 sample over"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, code = run(t, "recommend", "--env", "dev", "--top", top, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res recommend.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, c := range res.Containers {
		if c.Changed {
			changed++
		}
	}
	if res.Env != "dev" || changed != 2 {
		t.Errorf("json: env %q, %d changed containers, want dev and 2", res.Env, changed)
	}

	patchFile := filepath.Join(dir, "recommended.yaml")
	out, errOut, code = run(t, "recommend", "--env", "dev", "--top", top, "-o", "patch", "--patch-out", patchFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	written, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != out {
		t.Error("--patch-out and -o patch differ")
	}
	patches, err := recommend.ParsePatchFile(patchFile, written)
	if err != nil {
		t.Fatal(err)
	}
	if len(patches) != 2 || !strings.Contains(patches[0].Patch, "op: test") {
		t.Errorf("%d patches, want 2 JSON 6902 patches with a test op:\n%s", len(patches), out)
	}
}

func TestRecommendUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("POD NAME CPU(cores) MEMORY(bytes)\nvoiceassist-server-7f9c6d5b8-k2x4q server 12x 1Mi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"recommend", "--env", "prod"}, "no usage source"},
		{[]string{"recommend", "--env", "nope", "--top", bad}, "--env"},
		{[]string{"recommend", "--top", bad}, "--env is required (base, dev, staging, prod)"},
		{[]string{"recommend", "--env", "dev", "--top", bad}, bad + ":2: column CPU(cores)"},
		{[]string{"recommend", "--env", "dev", "--top", filepath.Join(dir, "missing.txt")}, "missing.txt"},
		{[]string{"recommend", "--env", "dev", "--top", bad, "-o", "csv"}, "-o \"csv\""},
		{[]string{"recommend", "--env", "dev", "--prometheus", "http://127.0.0.1:1", "--range", "soon"}, "--range"},
		{[]string{"recommend", "--env", "dev", "--top", bad, "--limit-ratio", "4-2"}, "--limit-ratio"},
	} {
		_, errOut, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, errOut, c.want)
		}
	}
}

// --from-vpa goes through kubectl's connection flags: an unreachable server
// is a failure (exit 1) that names the server and what was being read.
func TestRecommendFromVPAUnreachable(t *testing.T) {
	_, errOut, code := run(t, "recommend", "--env", "prod", "--from-vpa", "--server", "http://127.0.0.1:1", "--timeout", "5s")
	if code != 1 || !strings.Contains(errOut, "live VPAs (server http://127.0.0.1:1)") || !strings.Contains(errOut, "list VerticalPodAutoscalers in voiceassist") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
