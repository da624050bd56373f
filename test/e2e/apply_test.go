//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// fieldManager is the server-side-apply field manager vactl uses.
const fieldManager = "vactl"

// rendered is one environment built by internal/render, as objects to send
// and as the strictly decoded typed set (internal/kube) to compare with.
type rendered struct {
	env  string
	objs []*unstructured.Unstructured
	set  *kube.Set
}

func renderEnv(t *testing.T, env string) rendered {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env(env)
	if err != nil {
		t.Fatalf("render %s: %v", env, err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatalf("decode %s: %v", env, err)
	}
	r := rendered{env: env, set: set}
	for _, res := range m.Resources() {
		// Through JSON, so numbers are int64/float64 as unstructured wants
		// (kyaml's own maps hold int).
		b, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s %s: %v", env, res.GetKind(), res.GetName(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatalf("%s: %s %s: %v", env, res.GetKind(), res.GetName(), err)
		}
		r.objs = append(r.objs, u)
	}
	// In `kubectl apply -k`'s order (applyOrder, harness.go): Namespaces and
	// CRDs first, since everything else may live in or be one of them, and
	// Services before the workloads whose pods name them.
	r.objs = applyOrder(r.objs)
	return r
}

func ref(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// resourceFor maps an object to its REST resource, rediscovering once when
// the kind is new (a CRD established since the last discovery).
func resourceFor(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		mapper.Reset()
		m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(m.Resource).Namespace(u.GetNamespace()), nil
	}
	return dyn.Resource(m.Resource), nil
}

// apply sends one object as a server-side apply patch, as vactl does: field
// manager "vactl", strict field validation (as `kubectl apply --server-side`,
// whose --validate defaults to strict; server-side apply rejects unknown
// fields whatever the setting), no forced conflicts (a conflict is a
// finding, not something to override), optionally as a server-side dry run.
func apply(ctx context.Context, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	ri, err := resourceFor(u)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
}

// get reads an object back; nil and no error when it does not exist.
func get(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := resourceFor(u)
	if err != nil {
		return nil, err
	}
	got, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return got, err
}

// applyAll applies every object and reports each failure by object. It
// returns the server's answer for each object that was accepted. The CRDs
// of the objects' kinds are installed first where missing: every overlay,
// dev included, has ServiceMonitors, whose CRD the reference install
// (kube-prometheus-stack) brings.
func applyAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured, dryRun bool) map[string]*unstructured.Unstructured {
	t.Helper()
	installCRDs(ctx, t, objs)
	out := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		got, err := apply(ctx, u, dryRun)
		if err != nil {
			t.Errorf("apply %s (dryRun=%v): %v", ref(u), dryRun, err)
			continue
		}
		out[ref(u)] = got
	}
	return out
}

// subsetDiff lists every field of want (what we sent) that got (what the
// API server returned) lacks or holds with another value: the server
// accepted our numbers iff it is empty. Quantities compare by value, since
// the server writes them canonically ("2000m" comes back as "2").
// asStored is u's content as the API server stores it: a Secret's .data
// values are base64, which kustomize's secretGenerator wraps at 76
// characters; the server decodes them (line breaks ignored, as
// encoding/json does for []byte) and writes them back unwrapped.
func asStored(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	if u.GetKind() != "Secret" {
		return u.Object
	}
	c := u.DeepCopy()
	data, _, err := unstructured.NestedStringMap(c.Object, "data")
	if err != nil {
		t.Fatalf("%s: .data: %v", ref(u), err)
	}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(v))
		if err != nil {
			t.Fatalf("%s: .data.%s is not base64: %v", ref(u), k, err)
		}
		data[k] = base64.StdEncoding.EncodeToString(b)
	}
	if len(data) > 0 {
		must(t, unstructured.SetNestedStringMap(c.Object, data, "data"))
	}
	return c.Object
}

func subsetDiff(want, got any) []string {
	var diffs []string
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: sent an object, got %T", path, g))
				return
			}
			for k, x := range wv {
				y, ok := gv[k]
				if !ok {
					diffs = append(diffs, fmt.Sprintf("%s.%s: sent %s, dropped by the server", path, k, short(x)))
					continue
				}
				walk(path+"."+k, x, y)
			}
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				diffs = append(diffs, fmt.Sprintf("%s: sent %d items, got %s", path, len(wv), short(g)))
				return
			}
			for i := range wv {
				walk(fmt.Sprintf("%s[%d]", path, i), wv[i], gv[i])
			}
		default:
			if reflect.DeepEqual(w, g) || sameQuantity(w, g) {
				return
			}
			diffs = append(diffs, fmt.Sprintf("%s: sent %s, got %s", path, short(w), short(g)))
		}
	}
	walk("", normalize(want), normalize(got))
	sort.Strings(diffs)
	return diffs
}

func sameQuantity(a, b any) bool {
	as, ok1 := a.(string)
	bs, ok2 := b.(string)
	if !ok1 || !ok2 {
		return false
	}
	qa, err1 := resource.ParseQuantity(as)
	qb, err2 := resource.ParseQuantity(bs)
	return err1 == nil && err2 == nil && qa.Cmp(qb) == 0
}

// normalize round-trips through JSON so numbers compare as float64 on both sides.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
