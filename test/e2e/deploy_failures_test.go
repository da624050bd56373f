//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

// TestDeployFailures runs vactl (the binary of cmd/vactl, as
// TestVactlLifecycle does) into the failures a real cluster produces and
// checks, with the admin client, what each leaves behind:
//
//  1. setup --dry-run=server --create-secrets only says it would create the
//     missing Secret, and changes nothing;
//  2. an admission policy (a ValidatingAdmissionPolicy with a CEL rule, as a
//     webhook would) rejects one object: setup stops at its server-side dry
//     run with the object and the policy's message, nothing applied; a
//     policy that lets dry runs through makes the same object fail
//     mid-apply: the objects before it are applied and in the inventory,
//     the rejected one is not, no revision recorded; without the policy a
//     re-run completes;
//  3. the ServiceMonitor CRD deleted after the preflight (held Terminating by
//     a finalizer, so the window stays open): setup and diff name the
//     object and the CRD, nothing half-recorded; once the CRD is gone,
//     setup and diff both leave the ServiceMonitors out with a warning (an
//     error with --require-components); with the CRD back a re-run
//     completes;
//  4. diff, history, rollback and teardown against an unreachable server and
//     with a token without rights: exit 1, the reason, nothing changed;
//  5. teardown --dry-run (with and without --delete-data) lists exactly what
//     teardown would delete and changes nothing; teardown keeps the PVCs,
//     teardown --delete-data removes them.
func TestDeployFailures(t *testing.T) {
	ctx := scenario(t, 25*time.Minute)
	vactl := newVactlRunner(t)
	kc := cl.AdminKubeconfig
	dev := renderEnv(t, "dev")

	// A cluster without VoiceAssist, with metrics-server (not vactl's) and
	// the CRDs of dev and staging.
	deleteRendered(ctx, t)
	cleanVactlState(ctx, t)
	ensureMetricsServer(ctx, t)
	installCRDs(ctx, t, dev.objs)
	installCRDs(ctx, t, renderEnv(t, "staging").objs)
	if err := cs.CoreV1().Secrets("voiceassist").Delete(ctx, "voiceassist-postgres-credentials", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	// The namespace as an earlier setup (or scenario) leaves it: the dry
	// run below checks objects in it.
	if _, err := apply(ctx, findObj(t, dev.objs, "Namespace", "", "voiceassist"), false); err != nil {
		t.Fatal(err)
	}

	t.Run("setup dry run creates no Secret", func(t *testing.T) {
		before := liveState(ctx, t)
		out := vactl.must(t, kc, "setup", "--env", "staging", "--dry-run=server", "--create-secrets")
		for _, want := range []string{
			"would be created with a random password (--create-secrets; dry run: not created)",
			"would create Secret voiceassist/voiceassist-postgres-credentials (password) (dry run: not created)",
			"nothing changed, no revision recorded",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("setup --dry-run=server output lacks %q", want)
			}
		}
		if strings.Contains(out, "created Secret") {
			t.Errorf("setup --dry-run=server says it created a Secret")
		}
		if _, err := cs.CoreV1().Secrets("voiceassist").Get(ctx, "voiceassist-postgres-credentials", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Secret voiceassist-postgres-credentials after a dry run: %v, want NotFound", err)
		}
		sameVersions(t, before, liveState(ctx, t))
		if ids := inventoryIDs(ctx, t); ids != nil {
			t.Errorf("inventory after a dry run: %v", ids)
		}
	})

	worker := findObj(t, dev.objs, "HorizontalPodAutoscaler", "voiceassist", "voiceassist-worker-hpa")
	workerRef := cluster.Ref(object.UnstructuredToObjMetadata(worker))
	t.Run("admission policy rejects one object", func(t *testing.T) {
		// Rejects the worker's HPA, dry run or not: setup's dry run of
		// every object stops it before anything changed.
		denyObject(ctx, t, "voiceassist-worker-hpa", false)
		out, code := vactl.run(t, kc, "setup", "--env", "dev", "--timeout", "5m")
		for _, want := range []string{"server-side dry run of " + workerRef, denyMessage, "nothing of dev was applied, no revision recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("setup output lacks %q", want)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if ids := inventoryIDs(ctx, t); ids != nil {
			t.Errorf("inventory after a setup the dry run stopped: %v, want none", ids)
		}
		if revs := revisionNumbers(ctx, t); len(revs) != 0 {
			t.Errorf("revisions %v after a failed setup, want none", revs)
		}
		if d, err := cs.AppsV1().Deployments("voiceassist").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("list Deployments after a setup the dry run stopped: %v", err)
		} else if len(d.Items) != 0 {
			t.Errorf("%d Deployments after a setup the dry run stopped", len(d.Items))
		}

		// Rejects only real writes (a policy or webhook may treat dry runs
		// differently): the dry run passes, the apply fails mid-way.
		denyObject(ctx, t, "voiceassist-worker-hpa", true)
		out, code = vactl.run(t, kc, "setup", "--env", "dev", "--timeout", "5m")
		for _, want := range []string{"FAILED  " + workerRef, denyMessage, "no revision recorded; fix the cause and run setup again"} {
			if !strings.Contains(out, want) {
				t.Errorf("setup output lacks %q", want)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if revs := revisionNumbers(ctx, t); len(revs) != 0 {
			t.Errorf("revisions %v after a failed apply, want none", revs)
		}
		if got, err := get(ctx, worker); err != nil || got != nil {
			t.Errorf("%s after its apply was rejected: %v %v", workerRef, got != nil, err)
		}
		// Consistent: the inventory records every other object of dev, each
		// in the cluster, and not the rejected one.
		ids := inventoryIDs(ctx, t)
		if slices.Contains(ids, workerRef) {
			t.Errorf("the inventory records %s, which was rejected", workerRef)
		}
		for _, u := range dev.objs {
			r := cluster.Ref(object.UnstructuredToObjMetadata(u))
			if r == workerRef {
				continue
			}
			if !slices.Contains(ids, r) {
				t.Errorf("the inventory lacks %s, which was applied", r)
			}
			if got, err := get(ctx, u); err != nil || got == nil {
				t.Errorf("%s recorded in the inventory but not in the cluster: %v", r, err)
			}
		}

		allowAll(ctx, t)
		out = vactl.must(t, kc, "setup", "--env", "dev", "--timeout", "5m")
		if !strings.Contains(out, "1 created") || !strings.Contains(out, "revision 1 recorded") {
			t.Errorf("re-run after the policy is gone: want the HPA created and revision 1 recorded")
		}
		if got, err := get(ctx, worker); err != nil || got == nil {
			t.Errorf("%s after the re-run: %v", workerRef, err)
		}
		if ids := inventoryIDs(ctx, t); len(ids) != len(dev.objs) {
			t.Errorf("inventory after the re-run: %d objects, want dev's %d", len(ids), len(dev.objs))
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	const smCRD = "servicemonitors.monitoring.coreos.com"
	smGVR := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	var monitors []string
	for _, u := range dev.objs {
		if u.GetKind() == "ServiceMonitor" {
			monitors = append(monitors, u.GetName())
		}
	}
	t.Run("CRD deleted after the preflight", func(t *testing.T) {
		invBefore := inventoryVersion(ctx, t)
		holdCRDTerminating(ctx, t, smCRD, smGVR, "ServiceMonitor")
		out, code := vactl.run(t, kc, "setup", "--env", "dev", "--timeout", "2m")
		for _, want := range []string{"OK    kinds", "server-side dry run of ServiceMonitor voiceassist/", "the CRD of ServiceMonitor (API group monitoring.coreos.com) is being deleted", "nothing of dev was applied, no revision recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("setup output lacks %q", want)
			}
		}
		if code != 1 {
			t.Errorf("setup: exit %d, want 1", code)
		}
		if revs := revisionNumbers(ctx, t); !slices.Equal(revs, []int{1}) {
			t.Errorf("revisions %v after the failed setup, want [1]", revs)
		}
		if v := inventoryVersion(ctx, t); v != invBefore {
			t.Errorf("inventory changed by a setup that applied nothing: resourceVersion %s -> %s", invBefore, v)
		}
		out, code = vactl.run(t, kc, "diff", "--env", "dev")
		if code != 1 || !strings.Contains(out, "is being deleted") {
			t.Errorf("diff while the CRD terminates: exit %d, want 1 naming the terminating CRD", code)
		}

		releaseCRD(ctx, t, smCRD, smGVR)
		out, code = vactl.run(t, kc, "diff", "--env", "dev", "--require-components")
		if line := lineWith(out, "kind monitoring.coreos.com/v1 ServiceMonitor is not served by the cluster (no CRD of API group monitoring.coreos.com is installed): "); code != 1 || !containsAll(line, monitors) {
			t.Errorf("diff --require-components without the CRD: exit %d, want 1 naming the kind, its group and %v", code, monitors)
		}
		out, code = vactl.run(t, kc, "diff", "--env", "dev")
		if line := lineWith(out, "warning: left out "); code != 0 || !strings.Contains(line, "(monitoring.coreos.com/v1 ServiceMonitor): not served, no CRD of API group monitoring.coreos.com") || !containsAll(line, monitors) || !strings.Contains(out, "left out: their kinds are not served") {
			t.Errorf("diff without the CRD: exit %d, want 0 and the ServiceMonitors %v left out with a warning, as setup does", code, monitors)
		}
		out = vactl.must(t, kc, "setup", "--env", "dev", "--timeout", "2m")
		if !strings.Contains(out, "WARN  kind monitoring.coreos.com/v1 ServiceMonitor") || !strings.Contains(out, "revision 2 recorded") {
			t.Errorf("setup without the CRD: want the ServiceMonitors left out with a warning and revision 2")
		}
		installCRDs(ctx, t, dev.objs)
		out = vactl.must(t, kc, "setup", "--env", "dev", "--timeout", "2m")
		if !strings.Contains(out, fmt.Sprintf("%d created", len(monitors))) || !strings.Contains(out, "revision 3 recorded") {
			t.Errorf("setup with the CRD back: want the %d ServiceMonitors created and revision 3", len(monitors))
		}
		if out, code := vactl.run(t, kc, "diff", "--env", "dev"); code != 0 || !strings.Contains(out, "matches all") {
			t.Errorf("diff after the re-run: exit %d, want 0", code)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("unreachable server and a token without rights", func(t *testing.T) {
		unreachable := writeKubeconfig(t, "https://10.243.0.1:1", cl.RESTConfig().BearerToken)
		nobody := writeKubeconfig(t, cl.RESTConfig().Host, noRightsToken(ctx, t))
		before := liveState(ctx, t)
		for _, args := range [][]string{
			{"diff", "--env", "dev"},
			{"history"},
			{"rollback", "--to-revision", "1"},
			{"teardown", "--env", "dev"},
			{"teardown", "--env", "dev", "--dry-run"},
		} {
			out, code := vactl.run(t, unreachable, args...)
			if code != 1 || !strings.Contains(out, "cannot reach the API server https://10.243.0.1:1") {
				t.Errorf("vactl %s, unreachable server: exit %d, want 1 and 'cannot reach the API server'", strings.Join(args, " "), code)
			}
			out, code = vactl.run(t, nobody, args...)
			if code != 1 || !strings.Contains(out, "refused") || !strings.Contains(out, `User "system:serviceaccount:default:vactl-e2e-nobody" cannot`) {
				t.Errorf("vactl %s, token without rights: exit %d, want 1 and the refusal naming the user", strings.Join(args, " "), code)
			}
		}
		sameVersions(t, before, liveState(ctx, t))
	})

	t.Run("teardown dry run, teardown, teardown --delete-data", func(t *testing.T) {
		pvcs := pvcNames(ctx, t)
		if len(pvcs) == 0 {
			t.Fatal("dev's StatefulSets made no PersistentVolumeClaims")
		}
		inv := inventoryIDs(ctx, t)
		var wantDeleted []string
		for _, r := range inv {
			if !strings.HasPrefix(r, "Namespace ") {
				wantDeleted = append(wantDeleted, r)
			}
		}
		before := liveState(ctx, t)

		out := vactl.must(t, kc, "teardown", "--env", "dev", "--dry-run")
		if got := wouldDelete(out); !slices.Equal(got, wantDeleted) {
			t.Errorf("teardown --dry-run would delete\n  %v\nwant the inventory but the Namespace:\n  %v", got, wantDeleted)
		}
		for _, want := range []string{
			"kept    Namespace voiceassist",
			fmt.Sprintf("dev: %d objects would be deleted (dry run: nothing deleted)", len(wantDeleted)),
			"3 revisions would be deleted (dry run: nothing deleted)",
			"kept: Namespace voiceassist with its PersistentVolumeClaims [" + strings.Join(pvcs, ", ") + "]",
			"metrics-server: not installed by vactl, left alone",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("teardown --dry-run output lacks %q", want)
			}
		}
		out = vactl.must(t, kc, "teardown", "--env", "dev", "--dry-run=server", "--delete-data")
		if want := "--delete-data: would be deleted: PersistentVolumeClaims [" + strings.Join(pvcs, ", ") + "]"; !strings.Contains(out, want) {
			t.Errorf("teardown --dry-run --delete-data output lacks %q", want)
		}
		sameVersions(t, before, liveState(ctx, t))
		if got := pvcNames(ctx, t); !slices.Equal(got, pvcs) {
			t.Errorf("PVCs after the dry runs: %v, want %v", got, pvcs)
		}
		if got := inventoryIDs(ctx, t); !slices.Equal(got, inv) {
			t.Errorf("inventory after the dry runs: %v, want %v", got, inv)
		}
		if revs := revisionNumbers(ctx, t); len(revs) != 3 {
			t.Errorf("revisions after the dry runs: %v, want 3", revs)
		}

		out = vactl.must(t, kc, "teardown", "--env", "dev")
		if !strings.Contains(out, fmt.Sprintf("dev: %d objects deleted", len(wantDeleted))) {
			t.Errorf("teardown: want %d objects deleted", len(wantDeleted))
		}
		if got := pvcNames(ctx, t); !slices.Equal(got, pvcs) {
			t.Errorf("PVCs after teardown: %v, want all kept: %v", got, pvcs)
		}
		if ids := inventoryIDs(ctx, t); ids != nil {
			t.Errorf("inventory after teardown: %v", ids)
		}
		if err := apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io"); err != nil {
			t.Errorf("metrics-server vactl did not install, after teardown: %v", err)
		}

		out = vactl.must(t, kc, "teardown", "--env", "dev", "--delete-data")
		if !strings.Contains(out, "--delete-data: deleted: PersistentVolumeClaims ["+strings.Join(pvcs, ", ")+"]") {
			t.Errorf("teardown --delete-data: want the PVCs %v named as deleted", pvcs)
		}
		if got := pvcNames(ctx, t); len(got) != 0 {
			t.Errorf("PVCs after teardown --delete-data: %v", got)
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "voiceassist", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Namespace voiceassist after teardown --delete-data: %v, want NotFound", err)
		}
		// The claims' PersistentVolumes (the node agent's, reclaim policy
		// Retain) are Released now; remove them so the scenarios after this
		// one get their claims bound to new volumes.
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range pvs.Items {
			if c := pv.Spec.ClaimRef; c != nil && c.Namespace == "voiceassist" && slices.Contains(pvcs, c.Name) {
				if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("delete PersistentVolume %s of the deleted claim %s: %v", pv.Name, c.Name, err)
				}
			}
		}
	})
}

// lineWith is the first line of out that contains s, "" if none does.
func lineWith(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return s != ""
}

// liveState is liveVersions with the HPAs compared by what vactl writes:
// an HPA has no generation, and its controller's status updates move its
// resourceVersion.
func liveState(ctx context.Context, t *testing.T) map[string]liveVersion {
	t.Helper()
	m := liveVersions(ctx, t)
	for _, env := range []string{"dev", "prod"} {
		for _, u := range renderEnv(t, env).objs {
			if u.GetKind() != "HorizontalPodAutoscaler" {
				continue
			}
			got, err := get(ctx, u)
			if err != nil {
				t.Fatalf("%s: %v", ref(u), err)
			}
			if got == nil {
				continue
			}
			b, err := json.Marshal([]any{got.Object["spec"], got.GetLabels(), got.GetAnnotations()})
			if err != nil {
				t.Fatal(err)
			}
			m[ref(u)] = liveVersion{rv: string(b)}
		}
	}
	return m
}

// sameVersions fails for every object of before that is gone or changed in
// after (by generation where it has one, else by resourceVersion), and every
// object after has that before lacked.
func sameVersions(t *testing.T, before, after map[string]liveVersion) {
	t.Helper()
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			t.Errorf("%s deleted", k)
		case b.gen != 0 && a.gen != b.gen:
			t.Errorf("%s changed: generation %d -> %d", k, b.gen, a.gen)
		case b.gen == 0 && a.rv != b.rv:
			t.Errorf("%s changed: %s -> %s", k, b.rv, a.rv)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s created", k)
		}
	}
}

// inventoryIDs are the objects vactl's inventory records, as vactl names
// them ("Kind namespace/name"), sorted; nil when there is no inventory.
func inventoryIDs(ctx context.Context, t *testing.T) []string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(cluster.AppInventory.Namespace).Get(ctx, cluster.AppInventory.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for k := range cm.Data {
		id, err := object.ParseObjMetadata(k)
		if err != nil {
			t.Fatalf("inventory key %q: %v", k, err)
		}
		out = append(out, cluster.Ref(id))
	}
	sort.Strings(out)
	return out
}

func inventoryVersion(ctx context.Context, t *testing.T) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(cluster.AppInventory.Namespace).Get(ctx, cluster.AppInventory.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.ResourceVersion
}

// revisionNumbers are the recorded revisions' numbers, sorted.
func revisionNumbers(ctx context.Context, t *testing.T) []int {
	t.Helper()
	l, err := cs.CoreV1().Secrets("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "vactl.voiceassist.io/revision"})
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, s := range l.Items {
		var n int
		if _, err := fmt.Sscan(s.Labels["vactl.voiceassist.io/revision"], &n); err != nil {
			t.Fatalf("Secret %s: %v", s.Name, err)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func pvcNames(ctx context.Context, t *testing.T) []string {
	t.Helper()
	l, err := cs.CoreV1().PersistentVolumeClaims("voiceassist").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

// wouldDelete are the objects a teardown dry run's output lists as "would
// delete", sorted.
func wouldDelete(out string) []string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "] would delete "); ok {
			got = append(got, strings.TrimSuffix(rest, " (dry run)"))
		}
	}
	sort.Strings(got)
	return got
}

const (
	denyPolicyName = "vactl-e2e-deny"
	denyMessage    = "vactl e2e: this object is not admitted"
	// probeName is a ConfigMap the policy also rejects, to tell when the API
	// server enforces the policy (it loads policies asynchronously).
	probeName = "vactl-e2e-policy-probe"
)

// denyObject makes a ValidatingAdmissionPolicy (admission with a CEL rule,
// no webhook server needed) reject creating or updating the object named
// name in namespace voiceassist, and waits until the API server enforces
// it. realOnly lets server-side dry runs through, as a webhook may that
// treats them differently.
func denyObject(ctx context.Context, t *testing.T, name string, realOnly bool) {
	t.Helper()
	allowAll(ctx, t)
	expr := fmt.Sprintf("!(object.metadata.name in [%q, %q])", name, probeName)
	if realOnly {
		expr = "request.dryRun || " + expr
	}
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: denyPolicyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"horizontalpodautoscalers", "configmaps"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: expr, Message: denyMessage}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: denyPolicyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        denyPolicyName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { allowAll(context.Background(), t) })
	err := eventually(ctx, func(ctx context.Context) error {
		if err := probe(ctx, realOnly); err == nil {
			return errors.New("the probe ConfigMap is still admitted")
		} else if !strings.Contains(err.Error(), denyMessage) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("policy %s not enforced: %v", denyPolicyName, err)
	}
}

// probe creates the probe ConfigMap (a real create when real, else a dry
// run) and deletes it again; its error is the API server's answer.
func probe(ctx context.Context, real bool) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: probeName, Namespace: "default"}}
	opts := metav1.CreateOptions{}
	if !real {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, opts)
	if err == nil && real {
		if derr := cs.CoreV1().ConfigMaps("default").Delete(ctx, probeName, metav1.DeleteOptions{}); derr != nil {
			return derr
		}
	}
	return err
}

// allowAll removes denyObject's policy and waits until the API server no
// longer enforces it.
func allowAll(ctx context.Context, t *testing.T) {
	t.Helper()
	err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, denyPolicyName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	err = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, denyPolicyName, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return // there was none
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, func(ctx context.Context) error { return probe(ctx, true) }); err != nil {
		t.Fatalf("policy %s still enforced: %v", denyPolicyName, err)
	}
}

const holdFinalizer = "voiceassist.io/e2e-hold"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// holdCRDTerminating deletes the ServiceMonitor CRD and holds it in the
// moment between its deletion and its disappearance: a ServiceMonitor of
// the test's in namespace default carries a finalizer, so the CRD's cleanup
// (which waits until no instance is left) keeps it Terminating. Its kind
// stays in discovery (vactl's preflight finds it), the other instances (ours)
// are deleted, and the API server refuses to create new ones.
func holdCRDTerminating(ctx context.Context, t *testing.T, crd string, gvr schema.GroupVersionResource, kind string) {
	t.Helper()
	hold := &unstructured.Unstructured{}
	hold.SetAPIVersion(gvr.GroupVersion().String())
	hold.SetKind(kind)
	hold.SetNamespace("default")
	hold.SetName("vactl-e2e-hold")
	hold.SetFinalizers([]string{holdFinalizer})
	unstructured.SetNestedField(hold.Object, map[string]any{"matchLabels": map[string]any{"vactl-e2e": "hold"}}, "spec", "selector")
	unstructured.SetNestedSlice(hold.Object, []any{map[string]any{"port": "http"}}, "spec", "endpoints")
	if _, err := dyn.Resource(gvr).Namespace("default").Create(ctx, hold, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { releaseCRD(context.Background(), t, crd, gvr) })
	if err := dyn.Resource(crdGVR).Delete(ctx, crd, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := eventually(ctx, func(ctx context.Context) error {
		u, err := dyn.Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{})
		if err != nil {
			return err
		}
		terminating := false
		conds, _, err := unstructured.NestedSlice(u.Object, "status", "conditions")
		if err != nil {
			return fmt.Errorf("CRD %s status.conditions: %v", crd, err)
		}
		for _, c := range conds {
			m, _ := c.(map[string]any)
			terminating = terminating || m["type"] == "Terminating" && m["status"] == "True"
		}
		if !terminating {
			return fmt.Errorf("CRD %s not Terminating yet: %v", crd, conds)
		}
		l, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(l.Items) != 1 {
			return fmt.Errorf("CRD %s Terminating, %d %s left, want only the held one", crd, len(l.Items), gvr.Resource)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// releaseCRD lets the held instance go, and with it the CRD; it returns
// when the kind is no longer served.
func releaseCRD(ctx context.Context, t *testing.T, crd string, gvr schema.GroupVersionResource) {
	t.Helper()
	_, err := dyn.Resource(gvr).Namespace("default").Patch(ctx, "vactl-e2e-hold", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !isNoMatch(err) {
		t.Fatal(err)
	}
	u, err := dyn.Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		mapper.Reset()
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if u.GetDeletionTimestamp() != nil {
		deleteCRDs(ctx, t, crd)
	}
}
