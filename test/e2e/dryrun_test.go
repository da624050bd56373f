//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDryRunStagingProd sends staging and prod to the API server as a
// server-side dry run (dryRun=All: validation, defaulting and admission run,
// nothing is stored), after installing the CRDs they need — the projects'
// own VPA and Prometheus Operator CRDs (crds_test.go says where from).
// It checks that the server accepts every object and keeps every field and
// number, that nothing was stored, and — so that the acceptance means
// something — that the same dry run rejects broken objects.
func TestDryRunStagingProd(t *testing.T) {
	ctx := scenario(t, 5*time.Minute)
	for _, env := range []string{"staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			r := renderEnv(t, env)
			installCRDs(ctx, t, r.objs)

			// Namespaced objects can be dry-run only in a namespace that
			// exists (NamespaceLifecycle admission), as with
			// `kubectl apply --dry-run=server`: the Namespace is applied for real.
			var rest []*unstructured.Unstructured
			for _, u := range r.objs {
				if u.GetKind() == "Namespace" {
					if _, err := apply(ctx, u, false); err != nil {
						t.Fatalf("apply %s: %v", ref(u), err)
					}
					continue
				}
				rest = append(rest, u)
			}

			type state struct {
				exists     bool
				generation int64
			}
			before := map[string]state{}
			for _, u := range rest {
				s, err := get(ctx, u)
				if err != nil {
					t.Fatalf("get %s: %v", ref(u), err)
				}
				if s != nil {
					before[ref(u)] = state{true, s.GetGeneration()}
				}
			}

			got := applyAll(ctx, t, rest, true)
			for _, u := range rest {
				if s, ok := got[ref(u)]; ok {
					for _, d := range subsetDiff(asStored(t, u), s.Object) {
						t.Errorf("%s: %s", ref(u), d)
					}
				}
			}
			for _, h := range r.set.HPAs {
				if s, ok := got["HorizontalPodAutoscaler "+h.Namespace+"/"+h.Name]; ok {
					min, _, _ := unstructured.NestedInt64(s.Object, "spec", "minReplicas")
					max, _, _ := unstructured.NestedInt64(s.Object, "spec", "maxReplicas")
					t.Logf("HPA %s accepted (dry run): %d-%d", h.Name, min, max)
				}
			}
			t.Logf("%d objects accepted by a server-side dry run", len(got))

			// Nothing was stored: what did not exist still does not, and
			// what did exist (the dev objects, when TestApplyDev ran first)
			// kept its spec generation.
			for _, u := range rest {
				s, err := get(ctx, u)
				if err != nil {
					t.Errorf("get %s: %v", ref(u), err)
					continue
				}
				b := before[ref(u)]
				switch {
				case !b.exists && s != nil:
					t.Errorf("%s: stored by a dry run", ref(u))
				case b.exists && s != nil && s.GetGeneration() != b.generation:
					t.Errorf("%s: generation %d -> %d after a dry run", ref(u), b.generation, s.GetGeneration())
				}
			}

			if env == "prod" {
				rejectsBrokenObjects(ctx, t, r)
			}
		})
	}
}

// rejectsBrokenObjects: the dry run validates for real, built-in kinds and
// CRD kinds alike.
func rejectsBrokenObjects(ctx context.Context, t *testing.T, r rendered) {
	t.Helper()
	find := func(kind, name string) *unstructured.Unstructured {
		for _, u := range r.objs {
			if u.GetKind() == kind && u.GetName() == name {
				return u.DeepCopy()
			}
		}
		t.Fatalf("%s: no %s %s", r.env, kind, name)
		return nil
	}
	type brokenCase struct {
		name string
		obj  *unstructured.Unstructured
		// field, when set: an unknown field the error must name. Server-side
		// apply rejects those while building the typed patch, before
		// validation, and kube-apiserver v1.34.4 answers that with HTTP 500
		// ("failed to create typed patch object ... field not declared in
		// schema"), not 422: vactl must read the message, not the code.
		field string
	}
	var cases []brokenCase
	hpa := find("HorizontalPodAutoscaler", "voiceassist-worker-hpa")
	unstructured.SetNestedField(hpa.Object, int64(0), "spec", "minReplicas")
	cases = append(cases, brokenCase{"HPA minReplicas 0 (needs the HPAScaleToZero feature gate)", hpa, ""})

	typo := find("HorizontalPodAutoscaler", "voiceassist-server-hpa")
	b, _, _ := unstructured.NestedMap(typo.Object, "spec", "behavior")
	unstructured.RemoveNestedField(typo.Object, "spec", "behavior")
	unstructured.SetNestedMap(typo.Object, b, "spec", "behaviour")
	cases = append(cases, brokenCase{"HPA with spec.behaviour (unknown field)", typo, ".spec.behaviour"})

	vpa := find("VerticalPodAutoscaler", "voiceassist-server-vpa")
	unstructured.SetNestedField(vpa.Object, "Sometimes", "spec", "updatePolicy", "updateMode")
	cases = append(cases, brokenCase{"VPA updateMode Sometimes (the VPA CRD's enum)", vpa, ""})

	sm := find("ServiceMonitor", r.set.ServiceMonitors[0].Name)
	unstructured.SetNestedField(sm.Object, "30s", "spec", "scrapeIntervall")
	cases = append(cases, brokenCase{"ServiceMonitor spec.scrapeIntervall (not in the CRD schema)", sm, ".spec.scrapeIntervall"})

	for _, c := range cases {
		_, err := apply(ctx, c.obj, true)
		switch {
		case err == nil:
			t.Errorf("%s: accepted by the dry run; the dry run proves nothing", c.name)
		case c.field != "" && strings.Contains(err.Error(), c.field+": field not declared in schema"):
			t.Logf("rejected as it should be (HTTP %d): %s: %v", statusCode(err), c.name, err)
		case c.field == "" && apierrors.IsInvalid(err):
			t.Logf("rejected as it should be: %s: %v", c.name, err)
		default:
			t.Errorf("%s: rejected for another reason (%s, HTTP %d): %v", c.name, apierrors.ReasonForError(err), statusCode(err), err)
		}
	}
}

func statusCode(err error) int32 {
	if s, ok := err.(apierrors.APIStatus); ok {
		return s.Status().Code
	}
	return 0
}
