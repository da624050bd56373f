package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
	sigyaml "sigs.k8s.io/yaml"
)

// Change is how one object differs between what would be applied and what
// the cluster has.
type Change struct {
	Ref    string `json:"object"`
	Action string `json:"action"` // create, update, prune
	Diff   string `json:"diff,omitempty"`
}

// Diff server-side-dry-run-applies every object (as vactl's field manager,
// so the server's defaulting, admission and merge decide, as `kubectl diff
// --server-side` does) and compares the result with the live object; the
// objects the inventory records and objs lack would be pruned (those still
// in the cluster). Unchanged objects are not listed. A kind the cluster does
// not serve is an error (a MissingKind): callers leave such objects out
// first, as setup does (ServedObjects, LeaveOutMissing).
func (c *Client) Diff(ctx context.Context, objs []*unstructured.Unstructured, inv Inventory, force bool) ([]Change, error) {
	var out []Change
	local := map[object.ObjMetadata]bool{}
	for _, u := range objs {
		// As the applier sends it: with the owning-inventory annotation.
		u = u.DeepCopy()
		inventory.AddInventoryIDAnnotation(u, inv.info())
		id := object.UnstructuredToObjMetadata(u)
		local[id] = true
		gvk := u.GroupVersionKind()
		mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			return nil, MissingKind{GVK: gvk, Names: []string{u.GetName()}, Component: componentGroups[gvk.Group]}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
		}
		ri := c.Dynamic.Resource(mapping.Resource).Namespace(u.GetNamespace())
		live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			live = nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
		}
		dry, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: force, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			if live == nil && apierrors.IsNotFound(err) && c.namespaceMissing(ctx, u.GetNamespace()) {
				// Its namespace does not exist yet: it would be created
				// with it. The server cannot dry-run it; its schema can
				// still be checked.
				if err := c.validateSchema(u); err != nil {
					return nil, fmt.Errorf("%s (its namespace %s does not exist yet, so it was validated against the server's schema): %w", Ref(id), u.GetNamespace(), err)
				}
				dry = u
			} else {
				return nil, fmt.Errorf("server-side dry run of %s: %w", Ref(id), c.explainResource(err, gvk.GroupKind()))
			}
		}
		if live == nil {
			out = append(out, Change{Ref: Ref(id), Action: "create", Diff: unified(Ref(id), nil, dry)})
			continue
		}
		if d := unified(Ref(id), live, dry); d != "" {
			out = append(out, Change{Ref: Ref(id), Action: "update", Diff: d})
		}
	}
	ok, err := c.InventoryExists(ctx, inv)
	if err != nil || !ok {
		return out, err
	}
	ids, err := c.InventoryObjects(inv)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if local[id] {
			continue
		}
		// As cli-utils' pruner decides: an object whose kind is no longer
		// served, or that is gone, is not pruned.
		m, err := c.Mapper.RESTMapping(id.GroupKind)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
		}
		_, err = c.Dynamic.Resource(m.Resource).Namespace(id.Namespace).Get(ctx, id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
		}
		out = append(out, Change{Ref: Ref(id), Action: "prune"})
	}
	return out, nil
}

// namespaceMissing says whether ns is a namespace the cluster lacks (so a
// dry run of an object in it is NotFound), false when it exists or cannot
// be read.
func (c *Client) namespaceMissing(ctx context.Context, ns string) bool {
	if ns == "" {
		return false
	}
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// explainResource is Explain with what a NotFound or a terminating CRD
// means for an object of kind gk (see resourceHint).
func (c *Client) explainResource(err error, gk schema.GroupKind) error {
	if h, ok := resourceHint(err, gk); ok {
		return h
	}
	return c.Explain(err)
}

// resourceHint says what an error writing an object of kind gk means when
// its kind stopped being served after discovery was read (its CRD deleted,
// or being deleted, mid-run), and whether it is such an error; other errors
// are returned as they are.
func resourceHint(err error, gk schema.GroupKind) (error, bool) {
	switch {
	case err == nil || gk.Group == "":
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s is no longer served (was the CRD of API group %s deleted?): %w", gk.Kind, gk.Group, err), true
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "custom resource definition is terminating"):
		return fmt.Errorf("the CRD of %s (API group %s) is being deleted: %w", gk.Kind, gk.Group, err), true
	}
	return err, false
}

// LeaveOutMissing decides about the kinds the cluster does not serve as
// setup's preflight does: an optional component's objects (the VPA,
// Prometheus Operator) are left out, with a warning each, unless
// requireComponents; any other missing kind is an error. The error names
// every kind, its API group and its objects.
func LeaveOutMissing(missing []MissingKind, requireComponents bool) (warnings []string, err error) {
	var errs []string
	for _, m := range missing {
		switch {
		case m.Component == "":
			errs = append(errs, m.Error())
		case requireComponents:
			errs = append(errs, m.Error()+" (--require-components)")
		default:
			warnings = append(warnings, fmt.Sprintf("left out %s (%s): not served, no CRD of API group %s; install %s, or use --require-components to make this an error",
				strings.Join(m.Names, ", "), m.Kind(), m.GVK.Group, m.Component))
		}
	}
	if len(errs) > 0 {
		return warnings, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return warnings, nil
}

// unified is a unified diff of two objects' YAML without the fields the
// server owns (managedFields, resourceVersion, generation, uid, times,
// status), "" when they are equal.
func unified(name string, a, b *unstructured.Unstructured) string {
	ya, yb := "", cleanYAML(b)
	if a != nil {
		ya = cleanYAML(a)
	}
	if ya == yb {
		return ""
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(ya), B: difflib.SplitLines(yb),
		FromFile: "live/" + name, ToFile: "vactl/" + name, Context: 3,
	})
	return d
}

func cleanYAML(u *unstructured.Unstructured) string {
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	if len(c.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	}
	y, err := sigyaml.Marshal(c.Object)
	if err != nil {
		return err.Error()
	}
	return string(y)
}

// PrintChanges writes the changes as `kubectl diff` does: unified diffs,
// one per object.
func PrintChanges(w io.Writer, changes []Change) {
	for _, ch := range changes {
		switch ch.Action {
		case "prune":
			fmt.Fprintf(w, "--- live/%s\n+++ vactl/%s\n@@ pruned: no longer rendered @@\n", ch.Ref, ch.Ref)
		default:
			fmt.Fprint(w, ch.Diff)
			if !strings.HasSuffix(ch.Diff, "\n") {
				fmt.Fprintln(w)
			}
		}
	}
}
