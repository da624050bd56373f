package tune

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/recommend"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
	"github.com/voiceassist/autoscaling/k8s"
)

// copyManifests writes the embedded k8s/performance to a temporary
// directory, as a user's checkout holds it.
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

// TestPatchAppliesAndLints tunes every overlay with an HPA on a spike,
// appends the pick's patch (through the file format) to a copy of the
// overlay with the kustomize library, builds it, finds every changed field
// at the pick's value and lints the result: no error. With --max-step 5 %
// no field moves more than 5 %.
func TestPatchAppliesAndLints(t *testing.T) {
	sc, err := sim.LookupScenario("spike")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  string
		step float64
	}{{"prod", 0}, {"staging", 0}, {"dev", 0}, {"prod", 0.05}} {
		t.Run(tc.env, func(t *testing.T) {
			root := copyManifests(t)
			src, err := render.Dir(root)
			if err != nil {
				t.Fatal(err)
			}
			set := onCluster(t, src, tc.env)
			sp, err := NewSpace(set, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Run(context.Background(), Options{Space: sp, Base: sim.Config{Params: sim.DefaultParams(), Scenario: sc},
				Seeds: []uint64{1, 2}, Candidates: 16, SearchSeed: 7})
			if err != nil {
				t.Fatal(err)
			}
			// the cheapest point of the front: the most changes
			pick := s.RowOf(s.Front[len(s.Front)-1])
			changes := sp.Changes(sp.Current(), pick.Setting)
			if len(changes) == 0 {
				t.Fatal("the pick changes nothing: no patch to test")
			}
			for _, c := range changes {
				if tc.step > 0 && (c.To < c.From*(1-tc.step)-1e-9 || c.To > c.From*(1+tc.step)+1e-9) {
					t.Errorf("%s %s: %v → %v moves more than %v", c.Knob.HPA, c.Knob.Field, c.From, c.To, tc.step)
				}
			}
			patches, err := sp.Patches(pick.Setting)
			if err != nil {
				t.Fatal(err)
			}
			file, err := PatchFile(tc.env, "overlay", patches)
			if err != nil {
				t.Fatal(err)
			}
			if patches, err = recommend.ParsePatchFile("tuned.yaml", file); err != nil {
				t.Fatal(err)
			}
			rel, err := render.EnvDir(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, rel)
			if err := recommend.AddToKustomization(filesys.MakeFsOnDisk(), dir, patches); err != nil {
				t.Fatal(err)
			}
			patched := onCluster(t, src, tc.env)
			again, err := NewSpace(patched, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range again.Knobs {
				if k.Current != pick.Setting[i] {
					t.Errorf("%s %s = %v after the patch, want %v", k.HPA, k.Field, k.Current, pick.Setting[i])
				}
			}
			in, err := lint.UserKustomization(dir)
			if err != nil {
				t.Fatal(err)
			}
			rep := lint.Lint([]*lint.Input{in}, lint.DefaultConfig())
			for _, f := range rep.Findings {
				if f.Accepted == "" && f.Severity == lint.Error {
					t.Errorf("lint %s %s %s: %s", f.RuleID, f.Object, f.Field, f.Message)
				}
				// a rule the search keeps: the scale-down window at least the policies' periods
				if f.Accepted == "" && f.RuleID == "behavior-window-period" {
					t.Errorf("lint %s %s %s: %s", f.RuleID, f.Object, f.Field, f.Message)
				}
			}
		})
	}
}

func onCluster(t testing.TB, src render.Source, env string) *kube.Set {
	t.Helper()
	m, err := src.EnvOnCluster(env)
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A quota that cannot hold both deployments at their searched maxima
// lowers the maxima: every evaluated setting fits it.
func TestMaximaWithinQuota(t *testing.T) {
	set := envSet(t, "prod")
	sp, err := NewSpace(set, 0)
	if err != nil {
		t.Fatal(err)
	}
	cur := sp.maxima(sp.Current())
	if !sp.quota.fits(cur) {
		t.Fatalf("prod's own maxima %v do not fit its quota: %s", cur, sp.quota.violation(cur))
	}
	doubled := map[string]int64{}
	for k, v := range cur {
		doubled[k] = 2 * v
	}
	if sp.quota.fits(doubled) {
		t.Skipf("prod's quota holds twice the maxima %v: nothing to bound", doubled)
	}
	sc := spikeScenario(t)
	s, err := Run(context.Background(), Options{Space: sp, Base: sim.Config{Params: sim.DefaultParams(), Scenario: sc, Duration: 900},
		Seeds: []uint64{1}, Candidates: 30, SearchSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	grew := false
	for _, e := range s.Evaluated {
		m := sp.maxima(e.Setting)
		if why := sp.quota.violation(m); why != "" {
			t.Errorf("setting %v: %s", m, why)
		}
		grew = grew || m[sim.GatewayName] > cur[sim.GatewayName] || m[sim.WorkerName] > cur[sim.WorkerName]
	}
	if !grew {
		t.Error("no setting raised a maximum: the test bounds nothing")
	}
}
