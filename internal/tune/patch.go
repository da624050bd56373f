package tune

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/recommend"
)

// op is one JSON 6902 (RFC 6902) operation.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Patches returns one kustomize patch per HPA the setting changes: a JSON
// 6902 patch that tests each field's current value (so an overlay that
// has moved on fails the build instead of being half-overwritten), then
// replaces it.
func (sp *Space) Patches(v Setting) ([]types.Patch, error) {
	byHPA := map[string][]op{}
	var order []string
	ns := map[string]string{}
	for i, k := range sp.Knobs {
		if v[i] == k.Current {
			continue
		}
		if _, ok := byHPA[k.HPA]; !ok {
			order = append(order, k.HPA)
			ns[k.HPA] = sp.set.HPAs[k.hpa].Namespace
		}
		var cur, next any = int64(k.Current), int64(v[i])
		if k.Quantity {
			cur, next = k.text, milliQuantity(v[i]).String()
		}
		byHPA[k.HPA] = append(byHPA[k.HPA], op{"test", k.Path, cur}, op{"replace", k.Path, next})
	}
	var out []types.Patch
	for _, name := range order {
		b, err := yaml.Marshal(byHPA[name])
		if err != nil {
			return nil, err
		}
		out = append(out, types.Patch{Patch: string(b), Target: &types.Selector{ResId: resid.ResId{
			Gvk: resid.Gvk{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, Name: name, Namespace: ns[name]}}})
	}
	return out, nil
}

// PatchFile renders patches as the patches: section of a kustomization,
// in vactl recommend's format (recommend.ParsePatchFile reads both).
func PatchFile(env, overlay string, patches []types.Patch) ([]byte, error) {
	head := fmt.Sprintf("# vactl tune --env %s: JSON 6902 patches for the HPAs of %s.\n# Append these entries to the patches: list of its %s.\n", env, overlay, konfig.DefaultKustomizationFileName())
	if len(patches) == 0 {
		head += "# The search found nothing better than the current settings: no patch.\n"
	}
	return recommend.PatchFileWithHeader(head, patches)
}
