package cluster

import (
	"encoding/json"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigyaml "sigs.k8s.io/yaml"
)

// A Deployment as kube-apiserver returns it after `vactl setup` (apply as
// vactl), the HPA scaling it (scale subresource), the deployment
// controller's status, and a `kubectl patch` of the CPU limit: managedFields
// in the server's own format.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: voiceassist-server
  namespace: voiceassist
  uid: 0b6f6c8e-1111-2222-3333-444455556666
  resourceVersion: "4242"
  generation: 3
  creationTimestamp: "2026-12-01T10:00:00Z"
  labels: {app: voiceassist-server}
  annotations:
    deployment.kubernetes.io/revision: "2"
  managedFields:
  - manager: vactl
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:app: {}}}
      f:spec:
        f:selector: {}
        f:template:
          f:metadata: {f:labels: {f:app: {}}}
          f:spec:
            f:containers:
              k:{"name":"server"}:
                .: {}
                f:image: {}
                f:name: {}
                f:ports:
                  k:{"containerPort":8000,"protocol":"TCP"}:
                    .: {}
                    f:containerPort: {}
                    f:name: {}
                f:resources:
                  f:limits: {f:memory: {}}
                  f:requests: {f:cpu: {}, f:memory: {}}
  - manager: kubectl-patch
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:template:
          f:spec:
            f:containers:
              k:{"name":"server"}:
                f:resources: {f:limits: {f:cpu: {}}}
  - manager: kube-controller-manager
    operation: Update
    apiVersion: apps/v1
    subresource: scale
    fieldsType: FieldsV1
    fieldsV1:
      f:spec: {f:replicas: {}}
  - manager: kube-controller-manager
    operation: Update
    apiVersion: apps/v1
    subresource: status
    fieldsType: FieldsV1
    fieldsV1:
      f:status: {f:replicas: {}}
spec:
  replicas: 3
  progressDeadlineSeconds: 600
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: voiceassist-server}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}
  template:
    metadata: {labels: {app: voiceassist-server}}
    spec:
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      containers:
      - name: server
        image: voiceassist/voiceassist-server:0.1.0
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        ports:
        - {containerPort: 8000, name: http, protocol: TCP}
        resources:
          limits: {cpu: "8", memory: 1Gi}
          requests: {cpu: 250m, memory: 256Mi}
status:
  replicas: 3
`

// What someone set: vactl's fields and the patched limit; not the
// defaults, the HPA's replicas, the status or the server's metadata.
const declaredDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: voiceassist-server
  namespace: voiceassist
  labels: {app: voiceassist-server}
spec:
  selector: {matchLabels: {app: voiceassist-server}}
  template:
    metadata: {labels: {app: voiceassist-server}}
    spec:
      containers:
      - name: server
        image: voiceassist/voiceassist-server:0.1.0
        ports:
        - {containerPort: 8000, name: http}
        resources:
          limits: {cpu: "8", memory: 1Gi}
          requests: {cpu: 250m, memory: 256Mi}
`

func TestDeclared(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := sigyaml.Unmarshal([]byte(liveDeployment), &u.Object); err != nil {
		t.Fatal(err)
	}
	got, err := Declared(u)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := sigyaml.Unmarshal([]byte(declaredDeployment), &want); err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(got.Object)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		gy, err := sigyaml.Marshal(got.Object)
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("Declared:\n%s\nwant:\n%s", gy, declaredDeployment)
	}
}

// Without managedFields (a server that does not track them, an object
// saved with kubectl get -o yaml) only status and the server's metadata go.
func TestDeclaredWithoutManagedFields(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := sigyaml.Unmarshal([]byte(liveDeployment), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetManagedFields(nil)
	got, err := Declared(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Object["status"]; ok {
		t.Error("status kept")
	}
	if got.GetResourceVersion() != "" || got.GetUID() != "" || got.GetGeneration() != 0 {
		t.Errorf("server metadata kept: %v", got.Object["metadata"])
	}
	if r, _, err := unstructured.NestedFieldNoCopy(got.Object, "spec", "replicas"); err != nil {
		t.Fatal(err)
	} else if fmt.Sprint(r) != "3" {
		t.Errorf("spec.replicas %v, want the live 3 kept (nothing says who set it)", r)
	}
}

func TestDeclaredBadManagedFields(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := sigyaml.Unmarshal([]byte(liveDeployment), &u.Object); err != nil {
		t.Fatal(err)
	}
	mf := u.GetManagedFields()
	mf[0].FieldsV1.Raw = []byte(`{"f:spec": 3}`)
	u.SetManagedFields(mf)
	if _, err := Declared(u); err == nil {
		t.Error("malformed managedFields: no error")
	}
}
