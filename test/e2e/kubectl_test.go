//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/render"
)

// TestKubectlReadmeCommands runs the apply commands that
// k8s/performance/README.md gives operators, with kubectl v1.34.4 (built by
// hack/e2e/build.sh; its kustomize is kubectl's own, not our library), as
// server-side dry runs on a cluster without VoiceAssist objects: `kubectl
// apply -k` of the base and each overlay, and `kubectl apply -f` of the
// spec's single files from k8s/performance. The README's step 2 (the
// namespace) and the CRDs are in place first, as the README requires.
//
// Then it pins down what happens when client-side `kubectl apply` meets
// objects that vactl manages with server-side apply: kubectl cannot remove
// a field it never recorded (no last-applied annotation), so going from
// dev's gateway PDB (maxUnavailable) to prod's (minAvailable) leaves both
// set and the API server rejects it; server-side apply with vactl's field
// manager removes the field and succeeds.
func TestKubectlReadmeCommands(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	kubectl := bins["kubectl"]
	if kubectl == "" {
		t.Fatal("no kubectl binary from hack/e2e/build.sh")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	prod := renderEnv(t, "prod")
	installCRDs(ctx, t, prod.objs)
	deleteRendered(ctx, t)
	for _, u := range prod.objs {
		if u.GetKind() == "Namespace" {
			if _, err := apply(ctx, u, false); err != nil {
				t.Fatalf("apply %s: %v", ref(u), err)
			}
		}
	}
	cacheDir := t.TempDir()
	kubectlRun := func(dir string, args ...string) (string, string, error) {
		argv := append([]string{kubectl, "--kubeconfig", cl.AdminKubeconfig, "--cache-dir", cacheDir}, args...)
		cmd := cl.Netns.Command(argv...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := runCtx(ctx, cmd)
		return string(out), stderr.String(), err
	}
	run := func(t *testing.T, dir string, args ...string) string {
		t.Helper()
		out, stderr, err := kubectlRun(dir, args...)
		if err != nil {
			t.Fatalf("kubectl %s (in %s): %v\n%s%s", strings.Join(args, " "), dir, err, out, stderr)
		}
		return out
	}

	for _, env := range render.Envs {
		t.Run("apply -k "+env, func(t *testing.T) {
			dir, _ := render.EnvDir(env)
			want := len(renderEnv(t, env).objs)
			out := run(t, root, "apply", "-k", filepath.Join("k8s/performance", dir), "--dry-run=server")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != want {
				t.Errorf("kubectl reported %d objects, the library renders %d:\n%s", len(lines), want, out)
			}
			for _, l := range lines {
				if !strings.HasSuffix(l, "(server dry run)") {
					t.Errorf("unexpected kubectl output line %q", l)
				}
			}
			t.Logf("kubectl apply -k k8s/performance/%s --dry-run=server: %d objects", dir, len(lines))
		})
	}
	t.Run("apply -f spec files", func(t *testing.T) {
		dir := filepath.Join(root, "k8s", "performance")
		for _, f := range []string{"api-gateway-hpa.yaml", "worker-hpa.yaml", "resource-limits.yaml",
			"pod-disruption-budget.yaml", "vpa-config.yaml", "metrics-server.yaml"} {
			out := run(t, dir, "apply", "-f", f, "--dry-run=server")
			t.Logf("kubectl apply -f %s --dry-run=server: %d objects", f, strings.Count(out, "(server dry run)"))
		}
	})
	t.Run("client-side apply over vactl's server-side apply", func(t *testing.T) {
		applyAll(ctx, t, renderEnv(t, "dev").objs, false)
		if t.Failed() {
			t.FailNow()
		}
		prodDir := filepath.Join("k8s", "performance", "overlays", "prod")
		out, stderr, err := kubectlRun(root, "apply", "-k", prodDir, "--dry-run=server")
		const bothSet = "minAvailable and maxUnavailable cannot be both set"
		if err == nil || !strings.Contains(stderr, bothSet) {
			t.Errorf("kubectl apply (client-side) of prod over vactl-managed dev: want the PDB rejected with %q, got err=%v\n%s%s", bothSet, err, out, stderr)
		} else {
			t.Logf("as expected, client-side kubectl apply cannot drop dev's maxUnavailable: %s", bothSet)
		}
		out = run(t, root, "apply", "-k", prodDir, "--server-side", "--field-manager="+fieldManager, "--dry-run=server")
		if !strings.Contains(out, "poddisruptionbudget.policy/voiceassist-server-pdb serverside-applied (server dry run)") {
			t.Errorf("kubectl apply --server-side --field-manager=%s: PDB not applied:\n%s", fieldManager, out)
		}
		t.Logf("kubectl apply --server-side --field-manager=%s of prod over dev: accepted (%d objects)", fieldManager, strings.Count(out, "(server dry run)"))
	})
}

// runCtx runs cmd, killed when ctx ends, and returns its standard output.
func runCtx(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return out.Bytes(), ctx.Err()
	}
}
