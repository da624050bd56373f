package service_test

import (
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// commands maps an image's repository name (registry and tag stripped) to
// the command its binary runs.
var commands = map[string]service.Command{
	"voiceassist-server": server.Command,
	"voiceassist-worker": worker.Command,
	"queue-exporter":     exporter.Command,
}

// TestManifestsParse parses the args and environment of every container of
// our images, in every rendered environment, with the real flag sets: a
// renamed flag or variable, or a value the service rejects, fails here
// instead of as a crash-looping pod. The listen port must be the
// container's declared port (the probes and the Services use it).
func TestManifestsParse(t *testing.T) {
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range render.Envs {
		t.Run(env, func(t *testing.T) {
			m, err := src.Env(env)
			if err != nil {
				t.Fatal(err)
			}
			configMaps := map[string]map[string]string{}
			var deps []appsv1.Deployment
			for _, r := range m.Resources() {
				b, err := r.AsYAML()
				if err != nil {
					t.Fatal(err)
				}
				switch r.GetKind() {
				case "ConfigMap":
					var cm corev1.ConfigMap
					if err := yaml.Unmarshal(b, &cm); err != nil {
						t.Fatal(err)
					}
					configMaps[cm.Name] = cm.Data
				case "Deployment":
					var d appsv1.Deployment
					if err := yaml.Unmarshal(b, &d); err != nil {
						t.Fatal(err)
					}
					deps = append(deps, d)
				}
			}
			seen := map[string]bool{}
			for _, d := range deps {
				for _, c := range d.Spec.Template.Spec.Containers {
					name := imageName(c.Image)
					cmd, ok := commands[name]
					if !ok {
						continue
					}
					seen[name] = true
					where := "Deployment " + d.Namespace + "/" + d.Name + " container " + c.Name
					vars := containerEnv(t, where, c, configMaps)
					if len(c.Command) > 0 {
						t.Errorf("%s: command %q replaces the image's entrypoint", where, c.Command)
					}
					var out strings.Builder
					p, err := service.Parse(cmd, c.Args, func(k string) string { return vars[k] }, &out)
					if err != nil {
						t.Errorf("%s: args %q with its env: %v\n%s", where, c.Args, err, out.String())
						continue
					}
					checkListenPort(t, where, p.Common.Listen, c)
				}
			}
			for name := range commands {
				if !seen[name] {
					t.Errorf("no Deployment runs the %s image", name)
				}
			}
		})
	}
}

func imageName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	name := path.Base(image)
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i]
	}
	return name
}

// containerEnv resolves the container's variables as the kubelet would:
// envFrom ConfigMaps, then env in order; $(VAR) references expanded.
// Secrets and field references are not in the manifests, so they stand in
// as a placeholder (none of them feeds a setting our services parse).
func containerEnv(t *testing.T, where string, c corev1.Container, configMaps map[string]map[string]string) map[string]string {
	vars := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			for k, v := range configMaps[from.ConfigMapRef.Name] {
				vars[from.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = expand(e.Value, vars)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := configMaps[ref.Name][ref.Key]
			if !ok && (ref.Optional == nil || !*ref.Optional) {
				t.Errorf("%s: env %s: no key %q in ConfigMap %q", where, e.Name, ref.Key, ref.Name)
			}
			vars[e.Name] = v
		default:
			vars[e.Name] = "placeholder-from-" + e.Name
		}
	}
	return vars
}

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "$("+k+")", v)
	}
	return s
}

func checkListenPort(t *testing.T, where, listen string, c corev1.Container) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Errorf("%s: --listen %q: %v", where, listen, err)
		return
	}
	for _, p := range c.Ports {
		if strconv.Itoa(int(p.ContainerPort)) == port {
			return
		}
	}
	t.Errorf("%s: listens on port %s, which is not a declared containerPort %v", where, port, c.Ports)
}

// Parse itself rejects what the manifests must never contain.
func TestManifestsParseWouldFail(t *testing.T) {
	for _, bad := range [][]string{{"--listen=:8000", "--no-such-flag"}, {"serve"}} {
		_, err := service.Parse(server.Command, bad, func(k string) string {
			return map[string]string{"DATABASE_URL": "postgres://x@h/db"}[k]
		}, io.Discard)
		if err == nil {
			t.Errorf("args %q accepted", bad)
		}
	}
}
