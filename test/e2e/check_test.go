//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/voiceassist/autoscaling/internal/check"
	"github.com/voiceassist/autoscaling/internal/cluster"
)

// TestCheck runs `vactl check` and `vactl lint --live` (the binary) on a
// fresh dev setup and asserts what each checklist item must say there:
//
//  1. after one setup of dev: metrics-server, limits, HPAs, PDBs,
//     monitoring (without --prometheus-url) and runbook pass; VPAs fail
//     (dev renders none); load test fails ("run vactl loadtest": no record);
//     rollback fails (one revision); team trained is unknown; exit 1;
//  2. lint --live finds what offline lint finds in dev (nothing): the
//     server's defaults and the replicas the HPA writes are not linted;
//  3. hand edits — a CPU limit above the LimitRange's max, an HPA bound —
//     are caught: lint --live exits 1 naming the rule and the object, the
//     limits and HPA items fail;
//  4. a second setup (taking the fields back) restores them, and after a
//     load test record (RecordLoadtest) the load test and rollback items
//     pass; -o json and -o markdown carry the same verdicts;
//  5. with --prometheus-url of a Prometheus that has not loaded our rules,
//     monitoring fails naming the alerts.
func TestCheck(t *testing.T) {
	ctx := scenario(t, 20*time.Minute)
	runner := newVactlRunner(t)
	vactl := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		r := runner.split(t, cl.AdminKubeconfig, args...)
		return r.stdout, r.stderr, r.code
	}
	checkJSON := func(t *testing.T, args ...string) (map[string]check.Item, int) {
		t.Helper()
		out, _, code := vactl(t, append([]string{"check", "--env", "dev", "-o", "json"}, args...)...)
		var rep check.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("vactl check -o json: %v", err)
		}
		items := map[string]check.Item{}
		for _, it := range rep.Items {
			items[it.ID] = it
		}
		if len(items) != len(check.Items) {
			t.Errorf("%d items, want the checklist's %d", len(items), len(check.Items))
		}
		return items, code
	}
	want := func(t *testing.T, items map[string]check.Item, id string, s check.Status, evidence string) {
		t.Helper()
		it := items[id]
		if it.Status != s {
			t.Errorf("%s: %s, want %s; evidence: %s", id, it.Status, s, strings.Join(it.Evidence, " / "))
		}
		if evidence != "" && !strings.Contains(strings.Join(it.Evidence, "\n"), evidence) {
			t.Errorf("%s: evidence lacks %q: %s", id, evidence, strings.Join(it.Evidence, " / "))
		}
	}
	kubectl := func(t *testing.T, args ...string) {
		t.Helper()
		cmd := cl.Netns.Command(append([]string{bins["kubectl"], "--kubeconfig", cl.AdminKubeconfig, "-n", "voiceassist"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A fresh dev setup: nothing of ours but dev's objects (an earlier
	// scenario's dev, which setup takes over: no pod restarts, so no wait
	// for them), no inventory, no revisions, no load test record; the
	// Operator's CRDs served (dev renders its PrometheusRule).
	deleteRenderedExcept(ctx, t, "dev")
	cleanVactlState(ctx, t)
	forgetLoadtest(ctx, t)
	installCRDs(ctx, t, renderEnv(t, "prod").objs)
	if _, _, code := vactl(t, "setup", "--env", "dev", "--metrics-server-variant", "local", "--timeout", "5m"); code != 0 {
		t.Fatalf("setup --env dev: exit %d", code)
	}

	t.Run("fresh dev", func(t *testing.T) {
		// metrics-server scrapes each --metric-resolution: poll until the
		// pods setup just started have PodMetrics and the disruption
		// controller has counted them.
		var items map[string]check.Item
		var code int
		err := eventually(ctx, func(context.Context) error {
			items, code = checkJSON(t)
			for _, id := range []string{check.IDMetricsServer, check.IDPDBs} {
				if items[id].Status != check.Pass {
					return fmt.Errorf("%s: %s %v", id, items[id].Status, items[id].Evidence)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("waiting for metrics-server and PDB items to pass: %v", err)
		}
		want(t, items, check.IDMetricsServer, check.Pass, "PodMetrics for all")
		want(t, items, check.IDLimits, check.Pass, "requests and limits set")
		want(t, items, check.IDHPAs, check.Pass, "HorizontalPodAutoscaler voiceassist/voiceassist-worker-hpa: as rendered, min 1 max 2")
		want(t, items, check.IDPDBs, check.Pass, "PodDisruptionBudget voiceassist/voiceassist-postgres-pdb: blocks eviction on purpose")
		want(t, items, check.IDVPAs, check.Fail, "environment dev renders no VerticalPodAutoscaler")
		want(t, items, check.IDMonitoring, check.Pass, "PrometheusRule voiceassist/voiceassist-autoscaling: present")
		want(t, items, check.IDLoadtest, check.Fail, "no load test recorded")
		if !strings.Contains(items[check.IDLoadtest].Fix, "run vactl loadtest") {
			t.Errorf("loadtest fix %q does not say to run vactl loadtest", items[check.IDLoadtest].Fix)
		}
		want(t, items, check.IDRunbook, check.Pass, "runbook_url resolve to sections of docs/runbook.md")
		want(t, items, check.IDTeamTrained, check.Unknown, "")
		want(t, items, check.IDRollback, check.Fail, "is the only one")
		if code != 1 {
			t.Errorf("check: exit %d, want 1 (items failed)", code)
		}
	})

	t.Run("lint --live matches offline lint", func(t *testing.T) {
		offline, _, code := vactl(t, "lint", "--env", "dev")
		if code != 0 {
			t.Errorf("offline lint of dev: exit %d, want 0", code)
		}
		out, _, code := vactl(t, "lint", "--live")
		if code != 0 {
			t.Errorf("lint --live of a fresh setup: exit %d, want 0", code)
		}
		last := func(s string) string {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			return lines[len(lines)-1]
		}
		if last(out) != last(offline) {
			t.Errorf("lint --live: %q, offline lint of dev: %q; want the same counts", last(out), last(offline))
		}
		if strings.Contains(out, "hpa-target-sets-replicas") {
			t.Errorf("lint --live linted the replicas the HPA wrote")
		}
	})

	t.Run("hand edits caught", func(t *testing.T) {
		kubectl(t, "patch", "deployment", "voiceassist-server", "--type", "json",
			"-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/cpu","value":"8"}]`)
		kubectl(t, "patch", "hpa", "voiceassist-worker-hpa", "--type", "merge", "-p", `{"spec":{"maxReplicas":5}}`)
		out, _, code := vactl(t, "lint", "--live", "--env", "dev", "-o", "json")
		var rep struct {
			Findings []struct{ RuleID, Object, Field, Accepted string }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("lint --live -o json: %v", err)
		}
		found := false
		for _, f := range rep.Findings {
			if f.RuleID == "limitrange-max-below-limits" && f.Object == "Deployment voiceassist/voiceassist-server" && f.Accepted == "" {
				found = true
			}
		}
		if !found || code != 1 {
			t.Errorf("lint --live after the CPU limit edit: exit %d, findings %+v; want 1 and limitrange-max-below-limits on Deployment voiceassist/voiceassist-server", code, rep.Findings)
		}
		items, code := checkJSON(t)
		want(t, items, check.IDLimits, check.Fail, "limitrange-max-below-limits Deployment voiceassist/voiceassist-server")
		want(t, items, check.IDHPAs, check.Fail, "HorizontalPodAutoscaler voiceassist/voiceassist-worker-hpa: differs from environment dev (vactl diff shows how); fields of it are owned by kubectl-patch")
		if code != 1 {
			t.Errorf("check: exit %d, want 1", code)
		}
	})

	// The hand edits' field managers own the fields now: setup takes them back.
	if _, _, code := vactl(t, "setup", "--env", "dev", "--force-conflicts", "--timeout", "5m"); code != 0 {
		t.Fatalf("second setup --env dev: exit %d", code)
	}
	admin := &cluster.Client{Kube: cs}
	rec := cluster.LoadtestRecord{Time: time.Now().UTC().Truncate(time.Second), Env: "dev", Target: "all", Profile: "ramp", Verdict: "pass", Summary: "e2e: every SLO held"}
	if err := admin.RecordLoadtest(ctx, "voiceassist", rec); err != nil {
		t.Fatal(err)
	}

	t.Run("restored, load test recorded, two revisions", func(t *testing.T) {
		if _, _, code := vactl(t, "lint", "--live"); code != 0 {
			t.Errorf("lint --live after setup restored the objects: exit %d, want 0", code)
		}
		items, code := checkJSON(t)
		if code != 1 {
			t.Errorf("vactl check with failing items: exit %d, want 1", code)
		}
		want(t, items, check.IDLimits, check.Pass, "")
		want(t, items, check.IDHPAs, check.Pass, "")
		want(t, items, check.IDLoadtest, check.Pass, "last load test "+rec.Time.Format(time.RFC3339)+": pass")
		want(t, items, check.IDRollback, check.Pass, "vactl rollback re-applies revision 1")
		md, _, code := vactl(t, "check", "--env", "dev", "-o", "markdown")
		for _, s := range []string{"| | Item | Status | Evidence |", "| [x] | Load testing completed successfully | ✅ pass |", "| [ ] | VPAs configured in recommendation mode | ❌ **fail** |", "| [ ] | Team trained on troubleshooting procedures | ❔ unknown |"} {
			if !strings.Contains(md, s) {
				t.Errorf("markdown lacks %q", s)
			}
		}
		if code != 1 {
			t.Errorf("check -o markdown: exit %d, want 1 (the VPA item fails on dev)", code)
		}
	})

	t.Run("Prometheus without our rules", func(t *testing.T) {
		items, code := checkJSON(t, "--prometheus-url", "http://"+prometheusAddr)
		if code != 1 {
			t.Errorf("vactl check with failing items: exit %d, want 1", code)
		}
		want(t, items, check.IDMonitoring, check.Fail, "has not loaded")
		want(t, items, check.IDMonitoring, check.Fail, "VoiceAssistHPAUnableToScale")
	})
}

// forgetLoadtest removes the load test record an earlier scenario left.
func forgetLoadtest(ctx context.Context, t *testing.T) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, cluster.LoadtestAnnotation)
	_, err := cs.CoreV1().Namespaces().Patch(ctx, "voiceassist", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
