package lint

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Objects read from a cluster lint as files do, without file or line; a
// SARIF result then locates the finding logically (object and field).
func TestLive(t *testing.T) {
	objs, err := ParseStream("x.yaml", []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: "1", memory: 256Mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(objs[0].Obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	in, err := Live("live context prod (env prod)", []*unstructured.Unstructured{u})
	if err != nil {
		t.Fatal(err)
	}
	rep := Lint([]*Input{in}, DefaultConfig())
	var found *Finding
	for i, f := range rep.Findings {
		if f.RuleID == "resources-limit-ratio" {
			found = &rep.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("no resources-limit-ratio finding for a cpu limit 10x its request: %+v", rep.Findings)
	}
	if found.File != "" || found.Line != 0 || found.Object != "Deployment demo/web" || found.Input != "live context prod (env prod)" {
		t.Errorf("finding %+v: want no file or line, object Deployment demo/web, the live input", *found)
	}
	var text, sarif bytes.Buffer
	if err := WriteText(&text, rep, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "live context prod (env prod)\n  Deployment demo/web\n") {
		t.Errorf("text output:\n%s", text.String())
	}
	if err := WriteSARIF(&sarif, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sarif.String(), `"fullyQualifiedName": "Deployment demo/web`) {
		t.Errorf("SARIF without the logical location:\n%s", sarif.String())
	}

	// An object that is not one: the input error names it.
	bad := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x"}}}
	if _, err := Live("live", []*unstructured.Unstructured{bad}); err == nil || !strings.Contains(err.Error(), "no apiVersion or kind") {
		t.Errorf("object without kind: %v", err)
	}
}
