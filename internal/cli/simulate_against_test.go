package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/loadtest"
)

// writeReport writes a worker-target loadtest report of n seconds in which
// the dev worker HPA (1–2) reads desired(t).
func writeReport(t *testing.T, n int64, desired func(int64) int32) string {
	t.Helper()
	rep := loadtest.Report{Meta: loadtest.Meta{Target: loadtest.TargetWorker, Profile: "burst", Cluster: true}}
	for s := int64(0); s < n; s++ {
		d := desired(s)
		rep.Timeline = append(rep.Timeline, loadtest.Second{T: s, Phase: "load", Jobs: &loadtest.JobTraffic{},
			Cluster: &loadtest.ClusterSample{HPAs: []loadtest.HPASample{{Name: "voiceassist-worker-hpa", Target: "voiceassist-worker", Min: 1, Max: 2, Current: d, Desired: d}}}})
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSimulateAgainst(t *testing.T) {
	// No load, no scale event: the simulation agrees (exit 0).
	quiet := writeReport(t, 120, func(int64) int32 { return 1 })
	out, stderr, code := run(t, "simulate", "--env", "dev", "--against", quiet)
	if code != 0 || !strings.Contains(out, "voiceassist-worker-hpa (Deployment voiceassist-worker): AGREE — 0 of 0 measured scale events") {
		t.Errorf("quiet report: exit %d\n%s%s", code, out, stderr)
	}
	// A scale-up the replayed load (none) cannot explain: exit 1, named.
	up := writeReport(t, 120, func(s int64) int32 { return 1 + int32(min(s/60, 1)) })
	out, _, code = run(t, "simulate", "--env", "dev", "--against", up, "-o", "json")
	var ar againstReport
	if err := json.Unmarshal([]byte(out), &ar); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if code != ExitFailure || ar.Agree || len(ar.HPAs) != 1 || len(ar.HPAs[0].Unmatched) != 1 || ar.HPAs[0].Unmatched[0].T != 60 || ar.HPAs[0].MeasuredPeak != 2 {
		t.Errorf("unexplained scale-up: exit %d, %+v: want exit 1 and the 1 → 2 at 60 s unmatched", code, ar)
	}

	// -f: the rendered objects instead of --env.
	render, _, code := run(t, "render", "--env", "dev")
	if code != 0 {
		t.Fatal("vactl render --env dev failed")
	}
	objs := filepath.Join(t.TempDir(), "dev.yaml")
	os.WriteFile(objs, []byte(render), 0o644)
	if out, stderr, code := run(t, "simulate", "-f", objs, "--against", quiet); code != 0 || !strings.Contains(out, "AGREE") {
		t.Errorf("-f %s: exit %d\n%s%s", objs, code, out, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	badObj := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badObj, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicaz: 1}\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "--against", quiet, "--scenario", "spike"}, "--against replays the report's load"},
		{[]string{"simulate", "--against", quiet, "--seeds", "3"}, "--against compares one configuration"},
		{[]string{"simulate", "-f", objs}, "give it with --against"},
		{[]string{"simulate", "--against", bad}, "not a vactl loadtest -o json report"},
		{[]string{"simulate", "--against", quiet, "-f", badObj}, "bad.yaml: document 1: Deployment"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q: want exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
