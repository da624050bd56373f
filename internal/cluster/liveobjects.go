package cluster

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// AppliedObjects reads from the cluster what vactl applied: the objects the
// inventory inv records or, when there is no inventory (the environment was
// applied with kubectl, say), the objects of rendered. They come back as the
// server holds them; missing names the ones recorded or rendered that the
// cluster does not have. fromInventory says which of the two was read.
func (c *Client) AppliedObjects(ctx context.Context, inv Inventory, rendered []*unstructured.Unstructured) (live []*unstructured.Unstructured, missing []string, fromInventory bool, err error) {
	var ids object.ObjMetadataSet
	ok, err := c.InventoryExists(ctx, inv)
	if err != nil {
		return nil, nil, false, err
	}
	if ok {
		if ids, err = c.InventoryObjects(inv); err != nil {
			return nil, nil, true, err
		}
	} else {
		for _, u := range rendered {
			ids = append(ids, object.UnstructuredToObjMetadata(u))
		}
	}
	sort.SliceStable(ids, func(i, j int) bool { return Ref(ids[i]) < Ref(ids[j]) })
	for _, id := range ids {
		mapping, err := c.Mapper.RESTMapping(id.GroupKind)
		if err != nil {
			// A kind the server no longer serves (its CRD deleted): the
			// object cannot be there.
			missing = append(missing, Ref(id)+" (kind not served: "+err.Error()+")")
			continue
		}
		u, err := c.Dynamic.Resource(mapping.Resource).Namespace(id.Namespace).Get(ctx, id.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, Ref(id))
		case err != nil:
			return nil, nil, ok, fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
		default:
			live = append(live, u)
		}
	}
	return live, missing, ok, nil
}

// Declared returns the part of a live object that someone set: the fields a
// field manager owns through the main resource (server-side apply, kubectl
// apply, edit, patch), without what the API server defaulted (a
// Deployment's replicas, a probe's periodSeconds) and without what
// controllers write through the status and scale subresources (status, the
// replicas the HPA sets). That is what the manifests say plus every hand
// edit, so rules written for manifests read it as they read a file.
// apiVersion, kind, name and namespace are always kept. An object without
// managedFields loses only status and the server's metadata.
func Declared(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	set := &fieldpath.Set{}
	owned := false
	for _, m := range u.GetManagedFields() {
		if m.Subresource != "" || m.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(m.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("%s %s/%s: managedFields of %s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), m.Manager, err)
		}
		set = set.Union(s)
		owned = true
	}
	out := &unstructured.Unstructured{Object: map[string]any{}}
	if owned {
		if m, ok := keepOwned(u.Object, set).(map[string]any); ok {
			out.Object = m
		}
	} else {
		out = u.DeepCopy()
		unstructured.RemoveNestedField(out.Object, "status")
	}
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	out.SetAPIVersion(u.GetAPIVersion())
	out.SetKind(u.GetKind())
	out.SetName(u.GetName())
	if ns := u.GetNamespace(); ns != "" {
		out.SetNamespace(ns)
	}
	return out, nil
}

// keepOwned returns the parts of v that s selects. A path element that is a
// member of s keeps its whole value; one with children keeps what they
// select. List elements are matched as managedFields names them: by key
// fields (k:{"name":"server"}), by value (v:"x") or by index (i:0).
func keepOwned(v any, s *fieldpath.Set) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, child := range t {
			pe := fieldpath.FieldNameElement(k)
			if kept, ok := keepElement(child, pe, s); ok {
				out[k] = kept
			}
		}
		return out
	case []any:
		var elems []fieldpath.PathElement
		s.Members.Iterate(func(pe fieldpath.PathElement) { elems = append(elems, pe) })
		s.Children.Iterate(func(pe fieldpath.PathElement) { elems = append(elems, pe) })
		out := []any{}
		for i, e := range t {
			for _, pe := range elems {
				if !matches(pe, i, e) {
					continue
				}
				if kept, ok := keepElement(e, pe, s); ok {
					out = append(out, kept)
				}
				break
			}
		}
		return out
	}
	return v
}

func keepElement(v any, pe fieldpath.PathElement, s *fieldpath.Set) (any, bool) {
	if child, ok := s.Children.Get(pe); ok {
		return keepOwned(v, child), true
	}
	if s.Members.Has(pe) {
		return v, true
	}
	return nil, false
}

// matches says whether list element e at index i is the one pe names.
func matches(pe fieldpath.PathElement, i int, e any) bool {
	switch {
	case pe.Index != nil:
		return *pe.Index == i
	case pe.Value != nil:
		return value.Equals(*pe.Value, value.NewValueInterface(e))
	case pe.Key != nil:
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range *pe.Key {
			fv, ok := m[f.Name]
			if !ok || !value.Equals(f.Value, value.NewValueInterface(fv)) {
				return false
			}
		}
		return true
	}
	return false
}

// APIServiceAvailable reports whether the APIService (v1beta1.metrics.k8s.io,
// say) exists with Available=True, and why not, as preflight reads it.
func (c *Client) APIServiceAvailable(ctx context.Context, name string) (bool, string, error) {
	return c.apiServiceAvailable(ctx, name)
}
