package render

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// OurImages are the base names of the images of VoiceAssist's own
// services, whatever registry or repository path they carry.
var OurImages = []string{"voiceassist-server", "voiceassist-worker", "queue-exporter"}

// Retarget points our images at registry (e.g. registry.example/acme, giving
// registry.example/acme/voiceassist-server) and/or tag with kustomize's own images
// transformer (the `images:` field, what `kustomize edit set image` writes),
// run over the build. Images are recognized by their last path element, so
// it works whether the overlays already rename them or not; other images
// (the databases') are left alone. Empty registry and tag return m as is.
func Retarget(m resmap.ResMap, registry, tag string) (resmap.ResMap, error) {
	if registry == "" && tag == "" {
		return m, nil
	}
	if strings.ContainsAny(tag, ":@/ ") {
		return nil, fmt.Errorf("--image-tag %q: a tag has no ':', '@', '/' or spaces", tag)
	}
	registry = strings.TrimSuffix(registry, "/")
	names := map[string]bool{}
	for _, r := range m.Resources() {
		for _, p := range [][]string{{"spec", "template", "spec", "containers"}, {"spec", "template", "spec", "initContainers"}} {
			cs, err := r.Pipe(kyaml.Lookup(p...))
			if err != nil || cs == nil {
				continue
			}
			elems, _ := cs.Elements()
			for _, c := range elems {
				if img := c.Field("image"); img != nil {
					if n := imageName(kyaml.GetValue(img.Value)); slices.Contains(OurImages, path.Base(n)) {
						names[n] = true
					}
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--image-registry/--image-tag: the build has none of the images %s", strings.Join(OurImages, ", "))
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [objects.yaml]\nimages:\n")
	for _, n := range sortedNames(names) {
		fmt.Fprintf(&k, "  - name: %q\n", n)
		if registry != "" {
			fmt.Fprintf(&k, "    newName: %q\n", registry+"/"+path.Base(n))
		}
		if tag != "" {
			fmt.Fprintf(&k, "    newTag: %q\n", tag)
		}
	}
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/retarget/objects.yaml", y); err != nil {
		return nil, err
	}
	if err := fs.WriteFile("/retarget/kustomization.yaml", []byte(k.String())); err != nil {
		return nil, err
	}
	return Build(fs, "/retarget")
}

// imageName is an image reference without its tag or digest.
func imageName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func sortedNames(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
