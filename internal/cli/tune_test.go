package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/recommend"
	"github.com/voiceassist/autoscaling/internal/tune"
)

// tuneTrace writes a 4-hour trace: base load with a 4x spike in each half.
func tuneTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("time,rps,jobs_per_s\n")
	for ts := 0; ts <= 4*3600; ts += 60 {
		m := 1.0
		if ph := ts % 7200; ph >= 1800 && ph < 2700 {
			m = 4
		}
		fmt.Fprintf(&b, "%d,%g,%g\n", ts, 200*m, 0.5*m)
	}
	p := filepath.Join(t.TempDir(), "load.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTuneUsageErrors(t *testing.T) {
	trace := tuneTrace(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trace", trace}, "--env is required"},
		{[]string{"--env", "prod"}, "give the history"},
		{[]string{"--env", "prod", "--trace", trace, "--from-prometheus", "7d"}, "give the history"},
		{[]string{"--env", "prod", "--from-prometheus", "7d"}, "--from-prometheus needs --prometheus"},
		{[]string{"--env", "prod", "--trace", trace, "--max-step", "150%"}, "--max-step \"150%\""},
		{[]string{"--env", "prod", "--trace", trace, "--holdout", "1.5"}, "between 0 and 1"},
		{[]string{"--env", "prod", "--trace", trace, "--holdout", "3h50m"}, "each needs at least 1h"},
		{[]string{"--env", "prod", "--trace", trace, "--prefer", "speed"}, "want cost, slo or balanced"},
		{[]string{"--env", "prod", "--trace", trace, "--max-pod-hours", "-1"}, "--max-pod-hours"},
		{[]string{"--env", "prod", "--trace", filepath.Join(t.TempDir(), "none.csv")}, "--trace"},
	} {
		_, errOut, code := run(t, append([]string{"tune"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("tune %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

// A small real search end to end: JSON with the holdout and a front, the
// PNG, the patch (readable as a kustomization's patches), and a budget
// nothing meets (exit 1, saying how close the front came).
func TestTuneEndToEnd(t *testing.T) {
	trace := tuneTrace(t)
	dir := t.TempDir()
	png, patch := filepath.Join(dir, "front.png"), filepath.Join(dir, "tuned.yaml")
	common := []string{"tune", "--env", "prod", "--trace", trace, "--candidates", "10", "--seeds", "2"}
	out, errOut, code := run(t, append(common, "--holdout", "2h", "--png", png, "--patch-out", patch, "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep tune.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Candidates != 10 || rep.Runs != 20 || len(rep.Front) == 0 || rep.Holdout == nil || rep.Holdout.From != 7200 || rep.Duration != 7200 {
		t.Fatalf("report: %d candidates, %d runs, %d front points, holdout %+v, %d s tuned", rep.Candidates, rep.Runs, len(rep.Front), rep.Holdout, rep.Duration)
	}
	if rep.Pick.SLOSeconds.Mean > rep.Current.SLOSeconds.Mean || rep.Pick.PodHours.Mean > rep.Current.PodHours.Mean {
		t.Errorf("balanced pick (%v s, %v ph) worse than current (%v s, %v ph)", rep.Pick.SLOSeconds.Mean, rep.Pick.PodHours.Mean, rep.Current.SLOSeconds.Mean, rep.Current.PodHours.Mean)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("--png: %v, %d bytes", err, len(b))
	}
	written, err := os.ReadFile(patch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recommend.ParsePatchFile(patch, written); err != nil {
		t.Errorf("--patch-out: %v", err)
	}
	if string(written) != rep.Patch {
		t.Error("--patch-out differs from the report's patch")
	}

	// the same search (the holdout decides what is tuned on), other output
	out, errOut, code = run(t, append(common, "--holdout", "2h", "-o", "patch")...)
	if code != 0 || out != rep.Patch {
		t.Errorf("-o patch: exit %d (%s), output differs from the JSON report's patch:\n%s\nwant\n%s", code, errOut, out, rep.Patch)
	}

	out, errOut, code = run(t, append(common, "--holdout", "0.5")...)
	for _, want := range []string{"Pareto front", "Pick (--prefer balanced)", "flapping", "slow response to spikes", "idle pods", "Holdout: 2h0m0s – 4h0m0s", "holdout part"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("text: exit %d (%s), lacks %q", code, errOut, want)
		}
	}

	_, errOut, code = run(t, append(common, "--max-pod-hours", "0.01", "--max-slo-seconds", "0")...)
	if code != 1 || !strings.Contains(errOut, "no setting on the front has at most 0.01 pod-hours") {
		t.Errorf("an impossible budget: exit %d, stderr %q", code, errOut)
	}
}
