//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The CRDs staging and prod need come with the Go modules of their
// projects, from the module cache (downloaded through the module proxy if
// missing); none is copied into this repository:
//
//   - VerticalPodAutoscaler (autoscaling.k8s.io/v1): the module our code
//     already uses, k8s.io/autoscaler/vertical-pod-autoscaler at the version
//     of the main go.mod (v1.8.1), file deploy/vpa-v1-crd-gen.yaml.
//   - ServiceMonitor (monitoring.coreos.com/v1): the main go.mod has only
//     github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
//     (v0.95.2), whose module ships no CRDs. The repository's root module
//     does, in example/prometheus-operator-crd/; the newest version of it
//     the module proxy serves is v0.85.0 (v0.95.2 answers "not available"),
//     so its CRDs are v0.85.0's. The fields our ServiceMonitors use
//     (selector, endpoints.port/path/interval) are the same in both.
//
// These are the projects' real, full schemas: no CRD here is a stand-in.
type crdSource struct {
	module  string // module path
	version string // "" = the version in the main go.mod
	files   []string
}

var crdSources = []crdSource{
	{module: "k8s.io/autoscaler/vertical-pod-autoscaler", files: []string{"deploy/vpa-v1-crd-gen.yaml"}},
	{module: "github.com/prometheus-operator/prometheus-operator", version: "v0.85.0", files: []string{"example/prometheus-operator-crd/*.yaml"}},
}

// moduleDir returns the module's directory in the module cache, running
// `go mod download` (outside any module, so no go.mod or go.sum changes).
func moduleDir(t *testing.T, root string, src crdSource) string {
	t.Helper()
	version := src.version
	if version == "" {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", src.module)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -m %s: %v", src.module, err)
		}
		version = strings.TrimSpace(string(out))
	}
	cmd := exec.Command("go", "mod", "download", "-json", src.module+"@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	json.Unmarshal(out, &info)
	if err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s", src.module, version, err, info.Error)
	}
	return info.Dir
}

// loadCRDs reads every CustomResourceDefinition the sources ship, by the
// group/kind each defines.
func loadCRDs(t *testing.T) map[schema.GroupKind]*unstructured.Unstructured {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := map[schema.GroupKind]*unstructured.Unstructured{}
	for _, src := range crdSources {
		dir := moduleDir(t, root, src)
		for _, pattern := range src.files {
			files, _ := filepath.Glob(filepath.Join(dir, pattern))
			if len(files) == 0 {
				t.Fatalf("%s: no file %s in %s", src.module, pattern, dir)
			}
			for _, f := range files {
				objs, err := readYAML(f)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				for _, u := range objs {
					if u.GetKind() != "CustomResourceDefinition" {
						continue
					}
					group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
					kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
					u.SetAnnotations(mergeMap(u.GetAnnotations(), map[string]string{
						"voiceassist.io/e2e-source": fmt.Sprintf("%s %s", src.module, strings.TrimPrefix(f, dir+"/")),
					}))
					out[schema.GroupKind{Group: group, Kind: kind}] = u
				}
			}
		}
	}
	return out
}

func readYAML(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

func mergeMap(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// installCRDs applies, for real, the CRD of every kind among objs that the
// API server does not know yet, and waits until each is Established and
// served. A kind no source defines fails the test by name.
func installCRDs(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	mapper.Reset()
	need := map[schema.GroupKind]bool{}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); meta.IsNoMatchError(err) {
			need[gvk.GroupKind()] = true
		} else if err != nil {
			t.Fatalf("%s: %v", ref(u), err)
		}
	}
	if len(need) == 0 {
		return
	}
	crds := loadCRDs(t)
	var installed []*unstructured.Unstructured
	for gk := range need {
		crd, ok := crds[gk]
		if !ok {
			t.Fatalf("%s is not built in and no CRD source defines it", gk)
		}
		got, err := apply(ctx, crd, false)
		if err != nil {
			t.Fatalf("apply CRD %s: %v", crd.GetName(), err)
		}
		t.Logf("installed CRD %s (%s)", crd.GetName(), crd.GetAnnotations()["voiceassist.io/e2e-source"])
		installed = append(installed, got)
	}
	for _, crd := range installed {
		err := eventually(ctx, func(ctx context.Context) error {
			u, err := get(ctx, crd)
			if err != nil || u == nil {
				return fmt.Errorf("get: %v", err)
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("not Established: %v", conds)
		})
		if err != nil {
			t.Fatalf("CRD %s: %v", crd.GetName(), err)
		}
	}
	// Served: discovery lists each kind.
	err := eventually(ctx, func(ctx context.Context) error {
		mapper.Reset()
		for gk := range need {
			if _, err := mapper.RESTMapping(gk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("CRDs established but not in discovery: %v", err)
	}
}
