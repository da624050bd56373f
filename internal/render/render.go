// Package render builds the VoiceAssist kustomizations with the kustomize
// library (krusty) — the same code `kubectl kustomize` runs — from the
// manifests embedded in the binary or from a directory on disk.
package render

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/k8s"
)

// Envs are the environments vactl knows, in the order it reports them.
// "base" is k8s/performance itself; the others are its overlays.
var Envs = []string{"base", "dev", "staging", "prod"}

// EnvDir returns the kustomization directory of env relative to the
// manifests root (k8s/performance).
func EnvDir(env string) (string, error) {
	switch {
	case env == "base":
		return ".", nil
	case slices.Contains(Envs, env):
		return path.Join("overlays", env), nil
	default:
		return "", fmt.Errorf("unknown environment %q (want one of %s)", env, strings.Join(Envs, ", "))
	}
}

// MetricsServerVariants are the metrics-server kustomizations under
// k8s/performance/metrics-server: "standard" (the upstream release manifest)
// and "local" (plus --kubelet-insecure-tls, for kind and minikube, whose
// kubelets serve self-signed certificates). metrics-server is cluster
// infrastructure: no environment includes it.
var MetricsServerVariants = []string{"standard", "local"}

// MetricsServerDir returns the kustomization directory of a metrics-server
// variant relative to the manifests root.
func MetricsServerDir(variant string) (string, error) {
	switch variant {
	case "standard":
		return "metrics-server", nil
	case "local":
		return path.Join("metrics-server", "local"), nil
	default:
		return "", fmt.Errorf("unknown metrics-server variant %q (want one of %s)", variant, strings.Join(MetricsServerVariants, ", "))
	}
}

// Source is where the manifests come from: a file system and the directory
// in it that holds k8s/performance.
type Source struct {
	FS   filesys.FileSystem
	Root string
	// Name says where the manifests are for error messages: "embedded" or a path.
	Name string
}

// Embedded returns the manifests compiled into this binary, copied into an
// in-memory file system that kustomize can read.
func Embedded() (Source, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(k8s.FS, k8s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return mem.MkdirAll("/" + p)
		}
		b, err := k8s.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+p, b)
	})
	if err != nil {
		return Source{}, fmt.Errorf("reading embedded manifests: %w", err)
	}
	return Source{FS: mem, Root: "/" + k8s.Root, Name: "embedded k8s/performance"}, nil
}

// Dir returns the manifests in a directory on disk laid out like
// k8s/performance (a kustomization.yaml and overlays/<env>).
func Dir(dir string) (Source, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Source{}, err
	}
	return Source{FS: filesys.MakeFsOnDisk(), Root: abs, Name: dir}, nil
}

// Env builds one environment of the source.
func (s Source) Env(env string) (resmap.ResMap, error) {
	rel, err := EnvDir(env)
	if err != nil {
		return nil, err
	}
	return Build(s.FS, path.Join(s.Root, rel))
}

// EnvSet builds one environment and indexes its objects by kind, the way
// vactl's commands and their tests read them.
func (s Source) EnvSet(env string) (*kube.Set, error) {
	m, err := s.Env(env)
	if err != nil {
		return nil, err
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		return nil, fmt.Errorf("env %s: %w", env, err)
	}
	return set, nil
}

// MetricsServer builds one metrics-server variant of the source.
func (s Source) MetricsServer(variant string) (resmap.ResMap, error) {
	rel, err := MetricsServerDir(variant)
	if err != nil {
		return nil, err
	}
	return Build(s.FS, path.Join(s.Root, rel))
}

// EnvOnCluster builds an environment as it runs on a cluster: the
// environment plus the metrics-server its HPAs read CPU and memory from.
// metrics-server is cluster infrastructure (its own kustomization, which
// `vactl setup` installs where metrics.k8s.io is not served), so Env leaves
// it out; what reads the whole pipeline (simulate: --metric-resolution)
// wants it in. Manifests whose environments still include metrics-server,
// or that have no metrics-server kustomization (an older checkout), are
// returned as Env builds them.
func (s Source) EnvOnCluster(env string) (resmap.ResMap, error) {
	m, err := s.Env(env)
	if err != nil {
		return nil, err
	}
	for _, r := range m.Resources() {
		if r.GetKind() == "Deployment" && r.GetName() == "metrics-server" {
			return m, nil
		}
	}
	rel, _ := MetricsServerDir("standard")
	if !s.FS.IsDir(path.Join(s.Root, rel)) {
		return m, nil
	}
	ms, err := s.MetricsServer("standard")
	if err != nil {
		return nil, err
	}
	if err := m.AppendAll(ms); err != nil {
		return nil, fmt.Errorf("%s with metrics-server: %w", env, err)
	}
	return m, nil
}

// Build runs kustomize on one kustomization directory with the options
// `kubectl kustomize` uses. Errors name the directory and keep kustomize's
// own reason, which names the file and field at fault.
func Build(fsys filesys.FileSystem, dir string) (resmap.ResMap, error) {
	if !fsys.IsDir(dir) {
		return nil, fmt.Errorf("kustomize build %s: no such directory", dir)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m, nil
}
