package lint

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/voiceassist/autoscaling/internal/render"
)

// Budgets from the issue: all embedded environments in 300 ms, a stream of
// 10,000 objects in 2 s. The benchmarks fail when a run is over budget
// (not under -race, which is several times slower by design).
const (
	budgetEmbedded = 300 * time.Millisecond
	budget10k      = 2 * time.Second
)

func checkBudget(b *testing.B, budget time.Duration) {
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/op")
	if !raceEnabled && per > budget {
		b.Errorf("%v per run, budget %v", per, budget)
	}
}

// BenchmarkLintEmbedded: kustomize-build base, dev, staging and prod from
// the embedded manifests, decode them and run every rule — what `vactl
// lint` does.
func BenchmarkLintEmbedded(b *testing.B) {
	for b.Loop() {
		in, err := Embedded([]string{"base", "dev", "staging", "prod"})
		if err != nil {
			b.Fatal(err)
		}
		if rep := Lint(in, DefaultConfig()); rep.Failed() {
			b.Fatal("embedded environments have errors")
		}
	}
	checkBudget(b, budgetEmbedded)
}

// stream10k is a YAML stream of 10,000 objects: 2,000 groups of a
// Deployment, its Service, HPA, PDB and a ConfigMap, over 50 namespaces,
// with some problems sprinkled in so rules do real work.
func stream10k() []byte {
	var sb strings.Builder
	for i := range 2000 {
		ns := fmt.Sprintf("ns-%d", i%50)
		app := fmt.Sprintf("app-%d", i)
		ratio := "2"
		if i%7 == 0 {
			ratio = "8"
		}
		fmt.Fprintf(&sb, `apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s, labels: {app: %[1]s}}
spec:
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: example/%[1]s:1
          ports: [{name: http, containerPort: 8000}]
          resources:
            requests: {cpu: 500m, memory: 512Mi}
            limits: {cpu: "%[3]s", memory: 1Gi}
          readinessProbe: {httpGet: {path: /ready, port: http}}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
  behavior:
    scaleUp:
      selectPolicy: Max
      policies: [{type: Percent, value: 100, periodSeconds: 30}, {type: Pods, value: 2, periodSeconds: 30}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  maxUnavailable: 1
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels: {app: %[1]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s-config, namespace: %[2]s}
data: {LOG_LEVEL: info}
---
`, app, ns, ratio)
	}
	return []byte(sb.String())
}

// BenchmarkLint10kObjects: parse a 10,000-object stream (with line
// numbers) and run every rule over it — `vactl lint -f big.yaml`.
func BenchmarkLint10kObjects(b *testing.B) {
	data := stream10k()
	for b.Loop() {
		objs, err := ParseStream("big.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 10000 {
			b.Fatalf("%d objects", len(objs))
		}
		Lint([]*Input{{Name: "big.yaml", Objects: objs}}, DefaultConfig())
	}
	checkBudget(b, budget10k)
}

// BenchmarkBuildEmbeddedReference is the floor for BenchmarkLintEmbedded:
// the four kustomize builds alone (render.Source.Env), no decoding or rules.
func BenchmarkBuildEmbeddedReference(b *testing.B) {
	for b.Loop() {
		src, err := render.Embedded()
		if err != nil {
			b.Fatal(err)
		}
		for _, env := range render.Envs {
			if _, err := src.Env(env); err != nil {
				b.Fatal(err)
			}
		}
	}
	checkBudget(b, budgetEmbedded)
}

// BenchmarkYAMLNodes10kReference is the floor for BenchmarkLint10kObjects:
// parsing the stream into yaml.v3 nodes (what line numbers cost), nothing else.
func BenchmarkYAMLNodes10kReference(b *testing.B) {
	data := stream10k()
	for b.Loop() {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		n := 0
		for {
			var doc yaml.Node
			if dec.Decode(&doc) != nil {
				break
			}
			if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
				n++
			}
		}
		if n != 10000 {
			b.Fatalf("%d documents", n)
		}
	}
	checkBudget(b, budget10k)
}
