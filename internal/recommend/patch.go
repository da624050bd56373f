package recommend

import (
	"encoding/json"
	"fmt"
	"path"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// op is one JSON 6902 (RFC 6902) operation.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patches returns one kustomize patch per workload with a changed
// container: a JSON 6902 patch that first tests the container's name at its
// index (so a reordered template fails the build instead of resizing the
// wrong container), then sets its resources. Resources other than cpu and
// memory are kept.
func Patches(res *Result) ([]types.Patch, error) {
	var out []types.Patch
	byWorkload := map[string][]op{}
	var order []string
	targets := map[string]*types.Selector{}
	for _, c := range res.Containers {
		if !c.Changed {
			continue
		}
		key := c.Ref()
		if _, ok := byWorkload[key]; !ok {
			order = append(order, key)
			targets[key] = &types.Selector{ResId: resid.ResId{
				Gvk:       resid.Gvk{Group: "apps", Version: "v1", Kind: c.Kind},
				Name:      c.Workload,
				Namespace: c.Namespace,
			}}
		}
		base := fmt.Sprintf("/spec/template/spec/containers/%d", c.Index)
		byWorkload[key] = append(byWorkload[key],
			op{Op: "test", Path: base + "/name", Value: c.Container},
			op{Op: "add", Path: base + "/resources", Value: merged(c.Current, *c.Recommended)})
	}
	for _, key := range order {
		b, err := yaml.Marshal(byWorkload[key])
		if err != nil {
			return nil, err
		}
		out = append(out, types.Patch{Target: targets[key], Patch: string(b)})
	}
	return out, nil
}

// merged is cur with rec's cpu and memory.
func merged(cur, rec Resources) map[string]map[string]resource.Quantity {
	out := map[string]map[string]resource.Quantity{"requests": {}, "limits": {}}
	for k, v := range cur.Requests {
		out["requests"][string(k)] = v
	}
	for k, v := range cur.Limits {
		out["limits"][string(k)] = v
	}
	for k, v := range rec.Requests {
		out["requests"][string(k)] = v
	}
	for k, v := range rec.Limits {
		out["limits"][string(k)] = v
	}
	return out
}

// PatchFile renders patches as the `patches:` section of a kustomization,
// ready to merge into the environment's overlay (or to pass to
// AddToKustomization).
func PatchFile(env, overlay string, patches []types.Patch) ([]byte, error) {
	return PatchFileWithHeader(fmt.Sprintf("# vactl recommend --env %s: JSON 6902 patches for %s.\n# Append these entries to the patches: list of its %s.\n", env, overlay, konfig.DefaultKustomizationFileName()), patches)
}

// PatchFileWithHeader is PatchFile under another comment (head, whole
// lines), for vactl tune's patches of the same format.
func PatchFileWithHeader(head string, patches []types.Patch) ([]byte, error) {
	b, err := yaml.Marshal(struct {
		Patches []types.Patch `json:"patches"`
	}{patches})
	if err != nil {
		return nil, err
	}
	return append([]byte(head), b...), nil
}

// ParsePatchFile reads what PatchFile wrote.
func ParsePatchFile(name string, data []byte) ([]types.Patch, error) {
	var f struct {
		Patches []types.Patch `json:"patches"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f.Patches, nil
}

// AddToKustomization appends patches to the patches: list of the
// kustomization in dir, keeping the file's comments and order.
func AddToKustomization(fsys filesys.FileSystem, dir string, patches []types.Patch) error {
	file := path.Join(dir, konfig.DefaultKustomizationFileName())
	data, err := fsys.ReadFile(file)
	if err != nil {
		return err
	}
	node, err := kyaml.Parse(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	list, err := node.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "patches"))
	if err != nil {
		return fmt.Errorf("%s: patches: %w", file, err)
	}
	for _, p := range patches {
		j, err := json.Marshal(p)
		if err != nil {
			return err
		}
		el, err := kyaml.ConvertJSONToYamlNode(string(j))
		if err != nil {
			return err
		}
		if err := list.PipeE(kyaml.Append(el.YNode())); err != nil {
			return fmt.Errorf("%s: patches: %w", file, err)
		}
	}
	s, err := node.String()
	if err != nil {
		return err
	}
	return fsys.WriteFile(file, []byte(s))
}
