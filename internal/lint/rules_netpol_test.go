package lint

import (
	"reflect"
	"sort"
	"testing"
)

// TestNetworkPolicyMissing: which objects and fields the rule names on
// its fire fixture, and that a podSelector: {} policy with rules is no
// default deny.
func TestNetworkPolicyMissing(t *testing.T) {
	var got []string
	for _, f := range findings(lintPath(t, fixture(t, "networkpolicy-missing", "fire")), "networkpolicy-missing") {
		got = append(got, f.Object+" "+f.Field)
	}
	sort.Strings(got)
	want := []string{
		"Deployment demo/api metadata.namespace",
		"Deployment demo/worker spec.template.metadata.labels",
		"Deployment other/cache metadata.namespace",
		"Deployment other/cache spec.template.metadata.labels",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings\n got %q\nwant %q", got, want)
	}

	allowAll := []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{}]
  egress: [{}]
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: demo}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers: [{name: api, image: example/api:1}]
`)
	objs, err := ParseStream("allow-all.yaml", allowAll)
	if err != nil {
		t.Fatal(err)
	}
	fs := findings(Lint([]*Input{{Name: "allow-all.yaml", Objects: objs}}, DefaultConfig()), "networkpolicy-missing")
	if len(fs) != 1 || fs[0].Object != "Namespace demo" || fs[0].Field != "metadata.name" {
		t.Fatalf("an allow-all policy: want one finding on Namespace demo metadata.name, got %+v", fs)
	}
}
