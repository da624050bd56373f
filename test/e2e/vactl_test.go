//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

// TestVactlLifecycle runs vactl itself, the binary built from cmd/vactl, as
// an operator would (inside the cluster's network namespace, with a
// kubeconfig), through the whole live workflow, each step checked against
// the cluster with the admin client:
//
//  1. setup --env dev on a cluster without metrics-server: setup installs it
//     (its own inventory in kube-system) and ends with both HPAs
//     ScalingActive=True; a second setup configures nothing;
//  2. diff and --dry-run=server change nothing (resourceVersions and
//     revisions the same before and after);
//  3. setup --env prod, then prod from a changed overlay (one more object, a
//     changed HPA bound), then rollback: the bound is restored, the extra
//     object pruned;
//  4. teardown --env prod: nothing of ours is left but the PVCs (and the
//     namespace that holds them), metrics-server (vactl installed it) gone;
//  5. failure paths: unreachable server, invalid token, a token without
//     rights, a missing CRD with --require-components: exit 1, a message
//     naming the reason, nothing applied, no inventory.
func TestVactlLifecycle(t *testing.T) {
	ctx := scenario(t, 25*time.Minute)
	kc := cl.AdminKubeconfig
	run := newVactlRunner(t).run
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		out, code := run(t, kc, args...)
		if code != 0 {
			t.Fatalf("vactl %s: exit %d", strings.Join(args, " "), code)
		}
		return out
	}

	// A cluster without VoiceAssist and without metrics-server.
	deleteRendered(ctx, t)
	removeMetricsServer(ctx, t)
	cleanVactlState(ctx, t)

	t.Run("setup dev installs metrics-server", func(t *testing.T) {
		out := must(t, "setup", "--env", "dev", "--metrics-server-variant", "local", "--timeout", "5m")
		for _, want := range []string{"setup installs metrics-server", "ready   HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa", "revision 1 recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("setup output lacks %q", want)
			}
		}
		if _, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, cluster.MetricsServerInventory.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("metrics-server inventory: %v", err)
		}
		if err := apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io"); err != nil {
			t.Error(err)
		}
		for _, h := range renderEnv(t, "dev").set.HPAs {
			got, err := cs.AutoscalingV2().HorizontalPodAutoscalers(h.Namespace).Get(ctx, h.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c := hpaCondition(got, "ScalingActive"); c == nil || c.Status != corev1.ConditionTrue {
				t.Errorf("HPA %s after setup: %s", h.Name, describeConditions(got))
			}
			t.Logf("HPA %s: %s", h.Name, describeCurrentMetrics(got))
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("second setup configures nothing", func(t *testing.T) {
		before := liveVersions(ctx, t)
		out := must(t, "setup", "--env", "dev", "--metrics-server-variant", "local")
		if !strings.Contains(out, "0 created, 0 configured") {
			t.Errorf("second setup: want 0 created, 0 configured")
		}
		after := liveVersions(ctx, t)
		for k, g := range before {
			if after[k].gen != g.gen {
				t.Errorf("%s: generation %d -> %d", k, g.gen, after[k].gen)
			}
		}
	})

	installCRDs(ctx, t, renderEnv(t, "prod").objs)
	t.Run("diff and dry-run change nothing", func(t *testing.T) {
		if out, code := run(t, kc, "diff", "--env", "dev"); code != 0 || !strings.Contains(out, "matches all") {
			t.Errorf("diff --env dev after setup: exit %d, want 0", code)
		}
		// liveState: an HPA has no generation, and the HPA controller
		// updates its status (so its resourceVersion) at any sync.
		before := liveState(ctx, t)
		out, code := run(t, kc, "diff", "--env", "prod")
		if code != 1 || !strings.Contains(out, "+++ vactl/HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa") {
			t.Errorf("diff --env prod over dev: exit %d, want 1 and the HPA's diff", code)
		}
		out = must(t, "setup", "--env", "prod", "--dry-run=server", "--create-secrets")
		if !strings.Contains(out, "(server dry run)") || !strings.Contains(out, "nothing changed") {
			t.Errorf("setup --dry-run=server: no dry-run report")
		}
		after := liveState(ctx, t)
		// Objects with a generation are compared by it (their status, which
		// the controllers keep updating, moves the resourceVersion); the
		// others by resourceVersion.
		for k, b := range before {
			a, ok := after[k]
			switch {
			case !ok:
				t.Errorf("%s deleted by diff or dry run", k)
			case b.gen != 0 && a.gen != b.gen:
				t.Errorf("%s changed by diff or dry run: generation %d -> %d", k, b.gen, a.gen)
			case b.gen == 0 && a.rv != b.rv:
				t.Errorf("%s changed by diff or dry run: resourceVersion %s -> %s", k, b.rv, a.rv)
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				t.Errorf("%s created by diff or dry run", k)
			}
		}
	})

	t.Run("prod, a changed prod, rollback", func(t *testing.T) {
		// dev generated its database password (a secretGenerator); prod reads
		// the Secret voiceassist-postgres-credentials. PostgreSQL keeps the
		// password its data directory was initialized with, so moving this
		// cluster from dev to prod needs that Secret to hold dev's password
		// (what an operator migrating would do); --create-secrets would make
		// a new one the existing data does not accept.
		devPass := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-postgres-credentials", Namespace: "voiceassist"},
			StringData: map[string]string{"password": "voiceassist-dev-only"}}
		if _, err := cs.CoreV1().Secrets("voiceassist").Create(ctx, devPass, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		// The other Secrets prod reads (Redis, API keys) hold no data's
		// password: setup makes them.
		must(t, "setup", "--env", "prod", "--create-secrets", "--timeout", "5m")
		dir := changedProd(t)
		must(t, "setup", "--env", "prod", "--dir", dir, "--timeout", "5m")
		if h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, "voiceassist-server-hpa", metav1.GetOptions{}); err != nil || h.Spec.MaxReplicas != 12 {
			t.Fatalf("changed prod not applied: %v %v", err, h)
		}
		if _, err := cs.CoreV1().ConfigMaps("voiceassist").Get(ctx, "voiceassist-e2e-extra", metav1.GetOptions{}); err != nil {
			t.Fatalf("extra object of the changed prod: %v", err)
		}
		out := must(t, "history")
		for _, want := range []string{"REVISION", "dev", "prod"} {
			if !strings.Contains(out, want) {
				t.Errorf("history lacks %q", want)
			}
		}
		out = must(t, "rollback", "--timeout", "5m")
		if !strings.Contains(out, "pruned  ConfigMap voiceassist/voiceassist-e2e-extra") {
			t.Errorf("rollback did not report the extra ConfigMap pruned")
		}
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, "voiceassist-server-hpa", metav1.GetOptions{})
		if err != nil || h.Spec.MaxReplicas != 15 {
			t.Errorf("rollback: gateway HPA maxReplicas %v (err %v), want prod's 15", h.Spec.MaxReplicas, err)
		}
		if _, err := cs.CoreV1().ConfigMaps("voiceassist").Get(ctx, "voiceassist-e2e-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("extra ConfigMap after rollback: %v, want NotFound", err)
		}
		if out, code := run(t, kc, "diff", "--env", "prod"); code != 0 {
			t.Errorf("diff --env prod after rollback: exit %d\n%s", code, out)
		}
		must(t, "history", "-o", "json")
	})

	t.Run("teardown leaves only the data", func(t *testing.T) {
		if _, code := run(t, kc, "teardown", "--env", "dev"); code != 1 {
			t.Errorf("teardown --env dev of a prod cluster: exit %d, want 1", code)
		}
		pvcsBefore, err := cs.CoreV1().PersistentVolumeClaims("voiceassist").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		must(t, "teardown", "--env", "prod")
		for _, env := range []string{"dev", "prod"} {
			for _, u := range renderEnv(t, env).objs {
				if u.GetKind() == "Namespace" {
					continue
				}
				got, err := get(ctx, u)
				if err != nil && !isNoMatch(err) {
					t.Errorf("%s: %v", ref(u), err)
				}
				// A Secret setup --create-secrets made under a rendered
				// name (dev's voiceassist-loadtest-key) stays, as it
				// does without --delete-data.
				if got != nil && !(got.GetKind() == "Secret" && got.GetLabels()["app.kubernetes.io/managed-by"] == "vactl") {
					t.Errorf("%s left after teardown", ref(u))
				}
			}
		}
		objs, _, err := renderMetricsServer()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			if got, err := get(ctx, u); err != nil || got != nil {
				t.Errorf("metrics-server object %s left after teardown (vactl installed it): %v", ref(u), err)
			}
		}
		for _, inv := range []cluster.Inventory{cluster.AppInventory, cluster.MetricsServerInventory} {
			if _, err := cs.CoreV1().ConfigMaps(inv.Namespace).Get(ctx, inv.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("inventory %s/%s after teardown: %v", inv.Namespace, inv.Name, err)
			}
		}
		secrets, _ := cs.CoreV1().Secrets("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "vactl.voiceassist.io/revision"})
		if len(secrets.Items) != 0 {
			t.Errorf("%d revisions left", len(secrets.Items))
		}
		pvcs, err := cs.CoreV1().PersistentVolumeClaims("voiceassist").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pvcs.Items) != len(pvcsBefore.Items) || len(pvcs.Items) == 0 {
			t.Errorf("PVCs: %d before teardown, %d after; want all kept", len(pvcsBefore.Items), len(pvcs.Items))
		}
		pods, _ := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{})
		if len(pods.Items) != 0 {
			t.Errorf("%d pods left in voiceassist", len(pods.Items))
		}
		t.Logf("after teardown: %d PVCs kept, %d pods", len(pvcs.Items), len(pods.Items))
	})

	t.Run("failure paths", func(t *testing.T) {
		nothingApplied := func(t *testing.T) {
			t.Helper()
			if _, err := cs.CoreV1().ConfigMaps("voiceassist").Get(ctx, cluster.AppInventory.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("inventory after a failed setup: %v, want NotFound", err)
			}
			if d, _ := cs.AppsV1().Deployments("voiceassist").List(ctx, metav1.ListOptions{}); len(d.Items) != 0 {
				t.Errorf("%d Deployments after a failed setup", len(d.Items))
			}
		}
		t.Run("unreachable server", func(t *testing.T) {
			out, code := run(t, writeKubeconfig(t, "https://10.243.0.1:1", cl.RESTConfig().BearerToken), "setup", "--env", "dev")
			if code != 1 || !strings.Contains(out, "cannot reach the API server https://10.243.0.1:1") {
				t.Errorf("exit %d, want 1 and 'cannot reach the API server'", code)
			}
			nothingApplied(t)
		})
		t.Run("invalid token", func(t *testing.T) {
			out, code := run(t, writeKubeconfig(t, cl.RESTConfig().Host, "not-a-token"), "setup", "--env", "dev")
			if code != 1 || !strings.Contains(out, "rejected the credentials (401 Unauthorized)") {
				t.Errorf("exit %d, want 1 and the 401 explained", code)
			}
			nothingApplied(t)
		})
		t.Run("token without rights", func(t *testing.T) {
			out, code := run(t, writeKubeconfig(t, cl.RESTConfig().Host, noRightsToken(ctx, t)), "setup", "--env", "dev")
			for _, want := range []string{"FAIL  rbac deployments.apps", "Deployment (deployments.apps) in namespace voiceassist: not allowed to get, list, watch, create, patch, delete", "preflight failed: nothing was applied"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			nothingApplied(t)
		})
		t.Run("missing CRD", func(t *testing.T) {
			deleteCRDs(ctx, t, "verticalpodautoscalers.autoscaling.k8s.io", "verticalpodautoscalercheckpoints.autoscaling.k8s.io")
			out, code := run(t, kc, "setup", "--env", "prod", "--require-components", "--create-secrets")
			if code != 1 || !strings.Contains(out, "FAIL  kind autoscaling.k8s.io/v1 VerticalPodAutoscaler") {
				t.Errorf("exit %d, want 1 naming the missing VerticalPodAutoscaler kind", code)
			}
			nothingApplied(t)
			out, code = run(t, kc, "setup", "--env", "prod", "--dry-run=server", "--create-secrets")
			if code != 0 || !strings.Contains(out, "WARN  kind autoscaling.k8s.io/v1 VerticalPodAutoscaler") || !strings.Contains(out, "leaving out voiceassist-server-vpa") {
				t.Errorf("without --require-components: exit %d, want 0 and the VPAs left out with a warning", code)
			}
			nothingApplied(t)
		})
	})
}

type liveVersion struct {
	rv  string
	gen int64
}

// liveVersions snapshots resourceVersion and generation of every object
// dev or prod renders and of vactl's inventories and revisions.
func liveVersions(ctx context.Context, t *testing.T) map[string]liveVersion {
	t.Helper()
	out := map[string]liveVersion{}
	for _, env := range []string{"dev", "prod"} {
		for _, u := range renderEnv(t, env).objs {
			got, err := get(ctx, u)
			if err != nil && !isNoMatch(err) {
				t.Fatalf("%s: %v", ref(u), err)
			}
			if got != nil && u.GetKind() != "Namespace" {
				out[ref(u)] = liveVersion{got.GetResourceVersion(), got.GetGeneration()}
			}
		}
	}
	cms, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: "cli-utils.sigs.k8s.io/inventory-id"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		out["inventory "+c.Namespace+"/"+c.Name] = liveVersion{c.ResourceVersion, 0}
	}
	secrets, err := cs.CoreV1().Secrets("voiceassist").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		out["Secret "+s.Name] = liveVersion{s.ResourceVersion, 0}
	}
	return out
}

func isNoMatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no matches for kind")
}

// removeMetricsServer deletes the metrics-server that earlier scenarios
// installed (ensureMetricsServer) and waits until metrics.k8s.io is gone.
func removeMetricsServer(ctx context.Context, t *testing.T) {
	t.Helper()
	objs, _, err := renderMetricsServer()
	if err != nil {
		t.Fatal(err)
	}
	bg := metav1.DeletePropagationForeground
	for _, u := range objs {
		ri, err := resourceFor(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete %s: %v", ref(u), err)
		}
	}
	err = eventually(ctx, func(ctx context.Context) error {
		for _, u := range objs {
			if got, err := get(ctx, u); err != nil || got != nil {
				return fmt.Errorf("%s still there (%v)", ref(u), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("removing metrics-server: %v", err)
	}
	cs.CoreV1().ConfigMaps("kube-system").Delete(ctx, cluster.MetricsServerInventory.Name, metav1.DeleteOptions{})
}

// cleanVactlState deletes inventories and revisions an earlier run left.
func cleanVactlState(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, inv := range []cluster.Inventory{cluster.AppInventory, cluster.MetricsServerInventory} {
		if err := cs.CoreV1().ConfigMaps(inv.Namespace).Delete(ctx, inv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	err := cs.CoreV1().Secrets("voiceassist").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=vactl"})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// changedProd copies k8s/performance and changes its prod overlay: the
// gateway HPA's maxReplicas 15 -> 12 and one extra ConfigMap.
func changedProd(t *testing.T) string {
	t.Helper()
	dir := copyManifests(t)
	k := filepath.Join(dir, "overlays", "prod", "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "        path: /spec/maxReplicas\n        value: 15", "        path: /spec/maxReplicas\n        value: 12", 1)
	s = strings.Replace(s, "resources:\n  - ../../base\n", "resources:\n  - ../../base\n  - extra.yaml\n", 1)
	if s == string(b) || !strings.Contains(s, "value: 12") || !strings.Contains(s, "extra.yaml") {
		t.Fatalf("could not change %s", k)
	}
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: voiceassist-e2e-extra\n  namespace: voiceassist\ndata:\n  note: only in the changed prod\n"
	if err := os.WriteFile(filepath.Join(dir, "overlays", "prod", "extra.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeKubeconfig writes a kubeconfig for server with token and the
// cluster's CA.
func writeKubeconfig(t *testing.T, server, token string) string {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(cl.Dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "user"}
	cfg.CurrentContext = "e2e"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// noRightsToken is a token of a ServiceAccount with no role at all: it
// authenticates, and may only ask what it may do.
func noRightsToken(ctx context.Context, t *testing.T) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vactl-e2e-nobody", Namespace: "default"}}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// deleteCRDs deletes CRDs and waits until their kinds are no longer served.
func deleteCRDs(ctx context.Context, t *testing.T, names ...string) {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, n := range names {
		if err := dyn.Resource(gvr).Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	err := eventually(ctx, func(ctx context.Context) error {
		for _, n := range names {
			if _, err := dyn.Resource(gvr).Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("CRD %s still there (%v)", n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mapper.Reset()
}
