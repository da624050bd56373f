package recommend_test

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/recommend"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/k8s"
)

// copyManifests writes the embedded k8s/performance to a temporary
// directory, as a user's checkout would hold it.
func copyManifests(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(k8s.FS, k8s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := k8s.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, k8s.Root)
}

// usage is a day of per-minute usage per workload: a daily cycle between
// lo and hi, so that some requests grow and others shrink.
var usage = map[string]struct{ cpuLo, cpuHi, memLoMi, memHiMi float64 }{
	"voiceassist-server":   {0.1, 0.45, 200, 450},
	"voiceassist-worker":   {0.4, 1.1, 500, 900},
	"voiceassist-redis":    {0.02, 0.08, 200, 420},
	"voiceassist-postgres": {0.2, 0.6, 1200, 1700},
	"queue-exporter":       {0.005, 0.01, 20, 30},
}

func history(set *kube.Set) *recommend.Observations {
	obs := &recommend.Observations{}
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, w := range set.Workloads() {
		u, ok := usage[w.Name]
		if !ok {
			continue
		}
		pod := w.Name + "-0"
		if w.Kind == "Deployment" {
			pod = w.Name + "-7f9c6d5b8-k2x4q"
		}
		for i := 0; i < 24*60; i++ {
			x := (1 + math.Sin(2*math.Pi*float64(i)/(24*60))) / 2
			for _, c := range w.Template.Spec.Containers {
				obs.Samples = append(obs.Samples, recommend.Sample{
					Namespace: w.Namespace, Pod: pod, Container: c.Name, Time: start.Add(time.Duration(i) * time.Minute),
					CPUCores: u.cpuLo + x*(u.cpuHi-u.cpuLo), MemoryBytes: (u.memLoMi + x*(u.memHiMi-u.memLoMi)) * (1 << 20),
				})
			}
		}
	}
	return obs
}

// TestPatchRoundTrip recommends for every environment, appends the patch
// to a copy of its overlay with the kustomize library, builds it, checks
// the built containers carry the recommendation, and lints the result:
// no error-level finding.
func TestPatchRoundTrip(t *testing.T) {
	for _, env := range render.Envs {
		t.Run(env, func(t *testing.T) {
			root := copyManifests(t)
			src, err := render.Dir(root)
			if err != nil {
				t.Fatal(err)
			}
			set, err := src.EnvSet(env)
			if err != nil {
				t.Fatal(err)
			}
			res, err := recommend.Recommend(set, history(set), recommend.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) > 0 {
				t.Fatalf("problems: %s", strings.Join(res.Problems, "\n"))
			}
			patches, err := recommend.Patches(res)
			if err != nil {
				t.Fatal(err)
			}
			if len(patches) != len(usage) {
				t.Fatalf("%d patches, want one per workload with usage (%d)", len(patches), len(usage))
			}
			// Through the file format, as a user would pass it on.
			file, err := recommend.PatchFile(env, "overlay", patches)
			if err != nil {
				t.Fatal(err)
			}
			patches, err = recommend.ParsePatchFile("patch.yaml", file)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := render.EnvDir(env)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, rel)
			if err := recommend.AddToKustomization(filesys.MakeFsOnDisk(), dir, patches); err != nil {
				t.Fatal(err)
			}

			patched, err := src.EnvSet(env)
			if err != nil {
				t.Fatalf("kustomize build of the patched overlay: %v", err)
			}
			for _, c := range res.Containers {
				w, ok := patched.Workload(c.Kind, c.Namespace, c.Workload)
				if !ok {
					t.Fatalf("%s is gone after the patch", c.Ref())
				}
				got := w.Template.Spec.Containers[c.Index].Resources
				want := c.Current
				if c.Changed {
					want = *c.Recommended
				}
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					for _, pair := range []struct {
						kind      string
						got, want corev1.ResourceList
					}{{"requests", got.Requests, want.Requests}, {"limits", got.Limits, want.Limits}} {
						g, w := pair.got[r], pair.want[r]
						if g.Cmp(w) != 0 {
							t.Errorf("%s container %s %s.%s = %s after the patch, want %s", c.Ref(), c.Container, pair.kind, r, g.String(), w.String())
						}
					}
				}
			}

			in, err := lint.UserKustomization(dir)
			if err != nil {
				t.Fatal(err)
			}
			rep := lint.Lint([]*lint.Input{in}, lint.DefaultConfig())
			for _, f := range rep.Findings {
				if f.Accepted != "" {
					continue
				}
				t.Logf("lint %s %s %s %s: %s", f.Severity, f.RuleID, f.Object, f.Field, f.Message)
				// The rules on what recommend decides: none may fire, not even
				// the warning-level band check.
				if strings.HasPrefix(f.RuleID, "resources-") || strings.HasPrefix(f.RuleID, "quota-") || strings.HasPrefix(f.RuleID, "limitrange-") {
					t.Errorf("lint %s on the patched %s overlay: %s", f.RuleID, env, f.Message)
				}
			}
			if n := rep.Count(lint.Error); n > 0 {
				t.Fatalf("vactl lint: %d error(s) on the patched %s overlay", n, env)
			}
		})
	}
}

// TestQuotaFitting shrinks prod's quota: limits fall back to 2× the
// request first, and what still does not fit is a problem naming the key.
func TestQuotaFitting(t *testing.T) {
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	set, err := src.EnvSet("prod")
	if err != nil {
		t.Fatal(err)
	}
	obs := history(set)
	full, err := recommend.Recommend(set, obs, recommend.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	need := func(r *recommend.Result, limit bool) float64 {
		total := 0.0
		for _, c := range r.Containers {
			rl := c.Current
			if c.Recommended != nil {
				rl = *c.Recommended
			}
			l := rl.Requests
			if limit {
				l = rl.Limits
			}
			q := l[corev1.ResourceCPU]
			n := 1.0
			for _, h := range set.HPAs {
				if h.Spec.ScaleTargetRef.Name == c.Workload {
					n = float64(h.Spec.MaxReplicas)
				}
			}
			if c.Namespace == "voiceassist" {
				total += n * q.AsApproximateFloat64()
			}
		}
		return total
	}
	limits, requests := need(full, true), need(full, false)
	q := set.ResourceQuotas[0]
	// Room for the limits at 2.5× the requests, not at 4×.
	q.Spec.Hard[corev1.ResourceLimitsCPU] = *resourceCores(requests * 2.5)
	res, err := recommend.Recommend(set, obs, recommend.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("limits at 2× fit, yet problems: %v", res.Problems)
	}
	if got := need(res, true); got > requests*2.5+1e-6 || got >= limits {
		t.Errorf("limits.cpu need %.3f after fitting, want at most %.3f (was %.3f)", got, requests*2.5, limits)
	}
	// Requests alone do not fit: a problem, naming the quota key.
	q.Spec.Hard[corev1.ResourceRequestsCPU] = *resourceCores(requests / 2)
	res, err = recommend.Recommend(set, obs, recommend.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "spec.hard[requests.cpu]") {
		t.Fatalf("problems %q, want one about spec.hard[requests.cpu]", res.Problems)
	}
}

func resourceCores(c float64) *resource.Quantity {
	return resource.NewMilliQuantity(int64(c*1000), resource.DecimalSI)
}

// TestQuotaCountsSidecars: a sidecar's limit counts against the quota as
// `vactl lint` counts it, so a fit recommend reports is one lint's quota
// rule accepts. (recommend used to sum the app containers alone.)
func TestQuotaCountsSidecars(t *testing.T) {
	set := prodSet(t)
	obs := history(set)
	server, ok := set.Workload("Deployment", "voiceassist", "voiceassist-server")
	if !ok {
		t.Fatal("no Deployment voiceassist/voiceassist-server in prod")
	}
	always := corev1.ContainerRestartPolicyAlways
	server.Template.Spec.InitContainers = append(server.Template.Spec.InitContainers, corev1.Container{
		Name: "log-shipper", Image: "fluent-bit", RestartPolicy: &always,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		},
	})
	maxOf := func(w kube.Workload) float64 {
		n := 1.0
		if w.Replicas != nil {
			n = float64(*w.Replicas)
		}
		if hpas := set.HPAsFor(w); len(hpas) > 0 {
			n = 0
			for _, h := range hpas {
				n = math.Max(n, float64(h.Spec.MaxReplicas))
			}
		}
		return n
	}
	serverMax := maxOf(server)
	// The app containers' cpu limits at the maxima, in cores.
	appLimits := func(r *recommend.Result) float64 {
		total := 0.0
		for _, c := range r.Containers {
			w, ok := set.Workload(c.Kind, c.Namespace, c.Workload)
			if !ok || c.Namespace != "voiceassist" || !w.Scalable {
				continue
			}
			rl := c.Current
			if c.Recommended != nil {
				rl = *c.Recommended
			}
			q := rl.Limits[corev1.ResourceCPU]
			total += maxOf(w) * q.AsApproximateFloat64()
		}
		return total
	}
	full, err := recommend.Recommend(set, obs, recommend.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Room for the app containers as recommended and half the sidecars.
	hard := appLimits(full) + serverMax*0.5
	set.ResourceQuotas[0].Spec.Hard[corev1.ResourceLimitsCPU] = *resourceCores(hard)
	res, err := recommend.Recommend(set, obs, recommend.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	need := appLimits(res) + serverMax*1
	t.Logf("limits.cpu: quota %.3f, need %.3f after fitting (%.3f before), %d problem(s)", hard, need, appLimits(full)+serverMax, len(res.Problems))
	if len(res.Problems) == 0 && need > hard+1e-3 {
		t.Fatalf("no problems, yet limits.cpu at the maxima is %.3f with the sidecars, over the quota's %.3f", need, hard)
	}
	if len(res.Problems) > 0 && !strings.Contains(strings.Join(res.Problems, "\n"), "spec.hard[limits.cpu]") {
		t.Fatalf("problems %q, want one about spec.hard[limits.cpu] if any", res.Problems)
	}
}

func prodSet(t *testing.T) *kube.Set {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	set, err := src.EnvSet("prod")
	if err != nil {
		t.Fatal(err)
	}
	return set
}
