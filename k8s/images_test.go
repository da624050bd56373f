package k8s_test

import (
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/imagebuild"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/k8s"
)

// The images the manifests run: `make images` builds them (vactl's image is
// built too, but nothing here deploys it).
var deployedImages = []string{"voiceassist/queue-exporter", "voiceassist/voiceassist-server", "voiceassist/voiceassist-worker"}

// ourImages maps every container of ours in set to its image reference.
func ourImages(t *testing.T, set *kube.Set) map[string]name.Reference {
	t.Helper()
	refs := map[string]name.Reference{}
	for _, w := range set.Workloads() {
		for _, c := range slices.Concat(w.Template.Spec.InitContainers, w.Template.Spec.Containers) {
			ref, err := name.ParseReference(c.Image, name.WithDefaultRegistry(""))
			if err != nil {
				t.Errorf("%s/%s: image %q: %v", w.Ref(), c.Name, c.Image, err)
				continue
			}
			if strings.Contains(ref.Context().RepositoryStr(), "voiceassist") {
				refs[w.Ref()+"/"+c.Name] = ref
			}
		}
	}
	return refs
}

func TestImagesAreTheBuiltOnes(t *testing.T) {
	built := map[string]bool{}
	for _, n := range imagebuild.Names() {
		built[imagebuild.DefaultRepo+"/"+n] = true
	}
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		refs := ourImages(t, set)
		var names []string
		for where, ref := range refs {
			repo := ref.Context().RepositoryStr()
			if !built[repo] {
				t.Errorf("%s: image %s is not one `make images` builds (%s)", where, ref, strings.Join(imagebuild.Names(), ", "))
			}
			if _, ok := ref.(name.Tag); !ok || ref.Identifier() == "latest" || !strings.Contains(ref.String(), ":") {
				t.Errorf("%s: image %s has no version tag", where, ref)
			}
			if !slices.Contains(names, repo) {
				names = append(names, repo)
			}
		}
		sort.Strings(names)
		if !slices.Equal(names, deployedImages) {
			t.Errorf("the environment runs images %q, want %q", names, deployedImages)
		}
	})
}

// overlayImages reads the images: field of an overlay's kustomization.
func overlayImages(t *testing.T, env string) []types.Image {
	t.Helper()
	b, err := k8s.FS.ReadFile(path.Join(k8s.Root, "overlays", env, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("overlays/%s/kustomization.yaml: %v", env, err)
	}
	return k.Images
}

// Each overlay names the version it deploys in its images: field, for every
// image it runs, by the base's names. kustomize ignores an entry whose name
// matches no container without a word, so a typo here would deploy the
// base's tag silently.
func TestOverlaysSetImageTags(t *testing.T) {
	for _, env := range overlayEnvs(t) {
		t.Run(env, func(t *testing.T) {
			imgs := overlayImages(t, env)
			var names []string
			for _, im := range imgs {
				names = append(names, im.Name)
				if im.NewName != "" || im.Digest != "" {
					t.Errorf("images: %s sets newName %q digest %q; keep the base's names so one retarget recipe fits every environment (README.md, \"Images\")", im.Name, im.NewName, im.Digest)
				}
				if _, err := name.NewTag(im.Name + ":" + im.NewTag); err != nil || im.NewTag == "" {
					t.Errorf("images: %s: newTag %q is not a tag: %v", im.Name, im.NewTag, err)
				}
			}
			sort.Strings(names)
			if !slices.Equal(names, deployedImages) {
				t.Errorf("images: names %q, want one entry for each of %q", names, deployedImages)
			}
			_, set := build(t, env)
			for where, ref := range ourImages(t, set) {
				i := slices.IndexFunc(imgs, func(im types.Image) bool { return im.Name == ref.Context().RepositoryStr() })
				if i < 0 || ref.Identifier() != imgs[i].NewTag {
					t.Errorf("%s runs %s; the overlay's images: entry does not apply", where, ref)
				}
			}
		})
	}
}

// TestRetargetImages does what README.md's "Images" recipe does: an overlay
// of the user's own lists one of ours and retargets the images with
// images: entries — what `kustomize edit set image` writes there. Every
// image of ours moves to the registry, nothing else does.
func TestRetargetImages(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, env := range overlayEnvs(t) {
		t.Run(env, func(t *testing.T) {
			src, err := render.Embedded()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"voiceassist/voiceassist-server": "registry.example.com/voiceassist/voiceassist-server:v9.9.9",
				"voiceassist/voiceassist-worker": "registry.example.com/voiceassist/voiceassist-worker:v9.9.9",
				"voiceassist/queue-exporter":     "registry.example.com/voiceassist/queue-exporter@" + digest,
			}
			k := types.Kustomization{
				TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
				Resources: []string{"../" + k8s.Root + "/overlays/" + env},
				Images: []types.Image{
					{Name: "voiceassist/voiceassist-server", NewName: "registry.example.com/voiceassist/voiceassist-server", NewTag: "v9.9.9"},
					{Name: "voiceassist/voiceassist-worker", NewName: "registry.example.com/voiceassist/voiceassist-worker", NewTag: "v9.9.9"},
					{Name: "voiceassist/queue-exporter", NewName: "registry.example.com/voiceassist/queue-exporter", Digest: digest},
				},
			}
			b, err := yaml.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			if err := src.FS.WriteFile("/deploy/kustomization.yaml", b); err != nil {
				t.Fatal(err)
			}
			retargeted, err := render.Build(src.FS, "/deploy")
			if err != nil {
				t.Fatal(err)
			}
			got, err := kube.FromResMap(retargeted)
			if err != nil {
				t.Fatal(err)
			}
			_, orig := build(t, env)
			before := map[string]string{}
			for _, w := range orig.Workloads() {
				for _, c := range w.Template.Spec.Containers {
					before[w.Ref()+"/"+c.Name] = c.Image
				}
			}
			n := 0
			for _, w := range got.Workloads() {
				for _, c := range w.Template.Spec.Containers {
					where := w.Ref() + "/" + c.Name
					old := before[where]
					ref, err := name.ParseReference(old, name.WithDefaultRegistry(""))
					if err != nil {
						t.Fatal(err)
					}
					if w, ok := want[ref.Context().RepositoryStr()]; ok {
						n++
						if c.Image != w {
							t.Errorf("%s: image %s, want %s", where, c.Image, w)
						}
					} else if c.Image != old {
						t.Errorf("%s: image %s changed to %s; only ours should move", where, old, c.Image)
					}
				}
			}
			if n != 3 {
				t.Errorf("retargeted %d containers, want 3 (gateway, worker, exporter)", n)
			}
		})
	}
}

// overlayEnvs is render.Envs without base, by name: the overlays, whatever
// order Envs lists them in. It fails if base or an overlay is missing.
func overlayEnvs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, e := range render.Envs {
		if e != "base" {
			out = append(out, e)
		}
	}
	if len(out) != len(render.Envs)-1 || len(out) == 0 {
		t.Fatalf("render.Envs %q: want base and at least one overlay", render.Envs)
	}
	return out
}
