package cluster

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/apply/event"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// A cluster that serves the core and built-in kinds of prod but no CRD
// (a REST mapper with exactly those kinds; the real discovery path runs
// in test/e2e): the VPA and Prometheus Operator objects are left out with
// a warning naming them and the API group, an error with
// --require-components, and a kind of no optional component is an error.
func TestServedObjectsAndLeaveOutMissing(t *testing.T) {
	objs := envObjects(t, "prod")
	m := meta.NewDefaultRESTMapper(nil)
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		if _, optional := componentGroups[gvk.Group]; optional {
			continue
		}
		scope := meta.RESTScopeNamespace
		if gvk.Kind == "Namespace" {
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	c := &Client{Mapper: m}
	served, missing, err := c.ServedObjects(objs)
	if err != nil {
		t.Fatal(err)
	}
	var vpas []string
	for _, u := range objs {
		if u.GetKind() == "VerticalPodAutoscaler" {
			vpas = append(vpas, u.GetName())
		}
	}
	if len(vpas) == 0 {
		t.Fatal("prod renders no VerticalPodAutoscaler")
	}
	kinds := map[string]MissingKind{}
	n := 0
	for _, mk := range missing {
		kinds[mk.GVK.Kind] = mk
		n += len(mk.Names)
	}
	if len(served)+n != len(objs) {
		t.Errorf("%d served + %d missing != %d objects", len(served), n, len(objs))
	}
	vpa, ok := kinds["VerticalPodAutoscaler"]
	if !ok || !slices.Equal(vpa.Names, vpas) || vpa.Component == "" {
		t.Fatalf("VerticalPodAutoscaler missing as %+v, want names %v and its component", vpa, vpas)
	}
	if _, ok := kinds["ServiceMonitor"]; !ok {
		t.Errorf("ServiceMonitor not among the missing kinds: %+v", missing)
	}
	for _, u := range served {
		if _, optional := componentGroups[u.GroupVersionKind().Group]; optional {
			t.Errorf("%s %s served", u.GetKind(), u.GetName())
		}
	}

	warnings, err := LeaveOutMissing(missing, false)
	if err != nil {
		t.Fatalf("optional components only: %v", err)
	}
	if len(warnings) != len(missing) || !strings.Contains(strings.Join(warnings, "\n"), "left out "+strings.Join(vpas, ", ")+" (autoscaling.k8s.io/v1 VerticalPodAutoscaler): not served, no CRD of API group autoscaling.k8s.io") {
		t.Errorf("warnings %q", warnings)
	}
	_, err = LeaveOutMissing(missing, true)
	if err == nil || !strings.Contains(err.Error(), "kind autoscaling.k8s.io/v1 VerticalPodAutoscaler is not served by the cluster (no CRD of API group autoscaling.k8s.io is installed): "+strings.Join(vpas, ", ")) || !strings.Contains(err.Error(), "(--require-components)") {
		t.Errorf("--require-components: %v", err)
	}
	other := MissingKind{GVK: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, Names: []string{"w"}}
	if _, err := LeaveOutMissing([]MissingKind{other}, false); err == nil || !strings.Contains(err.Error(), "kind example.com/v1 Widget is not served by the cluster (no CRD of API group example.com is installed): w") {
		t.Errorf("a kind of no optional component: %v, want an error naming it", err)
	}
}

func TestResourceHint(t *testing.T) {
	gk := schema.GroupKind{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}
	gr := schema.GroupResource{Group: gk.Group, Resource: "servicemonitors"}
	for _, c := range []struct {
		err  error
		gk   schema.GroupKind
		want string
		ok   bool
	}{
		{apierrors.NewForbidden(gr, "sm", errors.New("create not allowed while custom resource definition is terminating")), gk, "the CRD of ServiceMonitor (API group monitoring.coreos.com) is being deleted", true},
		{apierrors.NewNotFound(gr, ""), gk, "ServiceMonitor is no longer served (was the CRD of API group monitoring.coreos.com deleted?)", true},
		{apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "x"), schema.GroupKind{Kind: "ConfigMap"}, "not found", false},
		{apierrors.NewForbidden(gr, "sm", errors.New("RBAC says no")), gk, "RBAC says no", false},
	} {
		got, ok := resourceHint(c.err, c.gk)
		if ok != c.ok || !strings.Contains(got.Error(), c.want) || !errors.Is(got, c.err) {
			t.Errorf("resourceHint(%v) = %v, %v; want %v and %q, wrapping the error", c.err, got, ok, c.ok, c.want)
		}
	}
}

// In a dry run cli-utils sends no delete: the progress says "would".
func TestProgressDryRunDeletes(t *testing.T) {
	id := object.ObjMetadata{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: Namespace, Name: "voiceassist-server"}
	ns := object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "Namespace"}, Name: Namespace}
	for _, dry := range []bool{true, false} {
		var out bytes.Buffer
		p := newProgress(&out, dry)
		p.event(event.Event{Type: event.DeleteType, DeleteEvent: event.DeleteEvent{Identifier: id, Status: event.DeleteSuccessful}})
		p.event(event.Event{Type: event.DeleteType, DeleteEvent: event.DeleteEvent{Identifier: ns, Status: event.DeleteSkipped, Error: errors.New("annotation prevents deletion")}})
		p.event(event.Event{Type: event.PruneType, PruneEvent: event.PruneEvent{Identifier: id, Status: event.PruneSuccessful}})
		want := []string{"] deleted Deployment voiceassist/voiceassist-server\n", "] pruned  Deployment voiceassist/voiceassist-server\n"}
		if dry {
			want = []string{"] would delete Deployment voiceassist/voiceassist-server (dry run)\n", "] would prune Deployment voiceassist/voiceassist-server (dry run)\n"}
		}
		want = append(want, "] kept    Namespace voiceassist: annotation prevents deletion\n")
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("dry=%v: output lacks %q:\n%s", dry, w, out.String())
			}
		}
		if len(p.plan) != 2 || p.plan[0] != id || p.deleted != 1 || p.pruned != 1 {
			t.Errorf("dry=%v: plan %v, deleted %d, pruned %d", dry, p.plan, p.deleted, p.pruned)
		}
		if err := p.err(0); err != nil {
			t.Errorf("dry=%v: %v", dry, err)
		}
	}
}
