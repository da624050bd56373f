package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
// objects the inventory records and objs lack would be pruned. Unchanged
// objects are not listed.
func (c *Client) Diff(ctx context.Context, objs []*unstructured.Unstructured, inv Inventory, force bool) ([]Change, error) {
	var out []Change
	local := map[object.ObjMetadata]bool{}
	for _, u := range objs {
		// As the applier sends it: with the owning-inventory annotation.
		u = u.DeepCopy()
		inventory.AddInventoryIDAnnotation(u, inv.info())
		id := object.UnstructuredToObjMetadata(u)
		local[id] = true
		mapping, err := c.Mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
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
			if live == nil && apierrors.IsNotFound(err) {
				// Its namespace does not exist yet: it would be created with it.
				dry = u
			} else {
				return nil, fmt.Errorf("server-side dry run of %s: %w", Ref(id), c.Explain(err))
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
		if !local[id] {
			out = append(out, Change{Ref: Ref(id), Action: "prune"})
		}
	}
	return out, nil
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
