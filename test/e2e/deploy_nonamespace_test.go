//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

// TestSetupDryRunWithoutNamespace runs `vactl setup --dry-run=server` and
// `vactl diff` on a cluster where the namespace voiceassist does not exist
// yet (a first install). The API server rejects a dry run of an object in
// a missing namespace (NamespaceLifecycle admission), and a dry run of the
// Namespace creates nothing, so vactl dry-runs the Namespace on the server
// and validates every object in it against the server's OpenAPI schema
// (kubectl's validator), one line per object saying which. It asserts:
//
//   - dev, and prod with --create-secrets, exit 0: the Namespace "dry run",
//     every namespaced object "validated … schema only", and a summary
//     with exactly those counts;
//   - the check can fail: an overlay copy with a ConfigMap field misspelt
//     (`dta:`) exits 1 naming the object and kubectl's "unknown field"
//     (diff: the API server's own refusal of the field);
//   - `diff --env dev -o json` exits 1 with every object a "create";
//   - nothing changed: the namespace still does not exist, no inventory,
//     no revision, no Secret, kube-system's Deployments and ConfigMaps as
//     they were.
//
// It starts by deleting the namespace (and everything in it) if an earlier
// scenario left it, and puts dev's Namespace back at the end if it was
// there (as a cluster "as found", for the scenarios that apply into it).
func TestSetupDryRunWithoutNamespace(t *testing.T) {
	ctx := scenario(t, 8*time.Minute)
	vactl := newVactlRunner(t)
	kc := cl.AdminKubeconfig
	installCRDs(ctx, t, renderEnv(t, "prod").objs)
	if deleteNamespace(ctx, t, cluster.Namespace) {
		t.Cleanup(func() {
			for _, u := range renderEnv(t, "dev").objs {
				if u.GetKind() == "Namespace" {
					if _, err := apply(context.Background(), u, false); err != nil {
						t.Errorf("putting the Namespace back: %v", err)
					}
				}
			}
		})
	}
	before := kubeSystemState(ctx, t)
	beforeLive := liveVersions(ctx, t)

	for _, env := range []string{"dev", "prod"} {
		t.Run("setup --dry-run=server "+env, func(t *testing.T) {
			args := []string{"setup", "--env", env, "--dry-run=server"}
			if env == "prod" {
				args = append(args, "--create-secrets")
			}
			out := vactl.must(t, kc, args...)
			var inNS, outside int
			for _, u := range renderEnv(t, env).objs {
				r := ref(u)
				if u.GetNamespace() == cluster.Namespace {
					inNS++
					if !strings.Contains(out, "validated "+r+": schema only") {
						t.Errorf("no line says %s was validated against the schema", r)
					}
				} else {
					outside++
					if !strings.Contains(out, "dry run   "+r+": accepted by a server-side dry run") {
						t.Errorf("no line says %s was dry-run on the server", r)
					}
				}
			}
			want := fmt.Sprintf("%s: %d objects accepted by a server-side dry run, %d validated against the server's schema only", env, outside, inNS)
			if !strings.Contains(out, want) {
				t.Errorf("summary: want %q", want)
			}
			if env == "prod" && !strings.Contains(out, "would create Secret voiceassist/") {
				t.Errorf("prod --create-secrets: no 'would create Secret'")
			}
		})
	}

	t.Run("a misspelt field fails", func(t *testing.T) {
		dir := devWithBadConfigMap(t)
		out, code := vactl.run(t, kc, "setup", "--env", "dev", "--dry-run=server", "--dir", dir)
		if line := lineWith(out, "FAILED    ConfigMap voiceassist/voiceassist-e2e-bad"); code != 1 || !strings.Contains(line, `unknown field "dta"`) {
			t.Errorf("exit %d, line %q: want exit 1 and the ConfigMap's unknown field \"dta\"", code, line)
		}
		// diff's server-side dry run is refused by the API server itself
		// before it looks for the namespace (server-side apply builds the
		// typed patch first: ".dta: field not declared in schema"); the
		// schema validation is diff's fallback for what that lets through.
		out, code = vactl.run(t, kc, "diff", "--env", "dev", "--dir", dir)
		if line := lineWith(out, "ConfigMap voiceassist/voiceassist-e2e-bad"); code != 1 ||
			!(strings.Contains(line, `unknown field "dta"`) || strings.Contains(line, ".dta: field not declared in schema")) {
			t.Errorf("diff: exit %d, line %q: want 1 naming the ConfigMap and its unknown field", code, line)
		}
	})

	t.Run("diff: everything is new", func(t *testing.T) {
		res := vactl.split(t, kc, "diff", "--env", "dev", "-o", "json")
		var changes []cluster.Change
		if err := json.Unmarshal([]byte(res.stdout), &changes); err != nil {
			t.Fatalf("diff -o json: %v", err)
		}
		objs := renderEnv(t, "dev").objs
		if res.code != 1 || len(changes) != len(objs) {
			t.Errorf("exit %d, %d changes: want 1 and all %d objects", res.code, len(changes), len(objs))
		}
		for _, c := range changes {
			if c.Action != "create" {
				t.Errorf("%s: %s, want create", c.Ref, c.Action)
			}
		}
	})

	if _, err := cs.CoreV1().Namespaces().Get(ctx, cluster.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: %v, want NotFound (a dry run created it)", cluster.Namespace, err)
	}
	sameVersions(t, beforeLive, liveVersions(ctx, t))
	sameVersions(t, before, kubeSystemState(ctx, t))
}

// deleteNamespace deletes namespace ns and waits until it is gone; it
// says whether it was there.
func deleteNamespace(ctx context.Context, t *testing.T, ns string) bool {
	t.Helper()
	err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	err = eventually(wctx, func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace %s still there (%v)", ns, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// kubeSystemState is the resourceVersion of every Deployment and ConfigMap
// in kube-system (metrics-server and its inventory, when installed).
func kubeSystemState(ctx context.Context, t *testing.T) map[string]liveVersion {
	t.Helper()
	out := map[string]liveVersion{}
	ds, err := cs.AppsV1().Deployments("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Items {
		out["Deployment kube-system/"+d.Name] = liveVersion{rv: d.ResourceVersion}
	}
	cms, err := cs.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		if strings.HasPrefix(c.Name, "extension-apiserver-authentication") || c.Name == "kube-root-ca.crt" {
			continue // the API server's own, rewritten by it
		}
		out["ConfigMap kube-system/"+c.Name] = liveVersion{rv: c.ResourceVersion}
	}
	return out
}

// devWithBadConfigMap copies k8s/performance with one more object in the
// dev overlay: a ConfigMap whose `data` is misspelt `dta`.
func devWithBadConfigMap(t *testing.T) string {
	t.Helper()
	dir := copyManifests(t)
	k := filepath.Join(dir, "overlays", "dev", "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "resources:\n  - ../../base\n", "resources:\n  - ../../base\n  - bad.yaml\n", 1)
	if s == string(b) {
		t.Fatalf("could not change %s", k)
	}
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: voiceassist-e2e-bad\n  namespace: voiceassist\ndta:\n  note: misspelt\n"
	if err := os.WriteFile(filepath.Join(dir, "overlays", "dev", "bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
