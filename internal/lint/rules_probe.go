package lint

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type probeRef struct {
	p    *corev1.Probe
	name string // livenessProbe
}

func probes(ct *corev1.Container) []probeRef {
	var out []probeRef
	for _, p := range []probeRef{{ct.LivenessProbe, "livenessProbe"}, {ct.ReadinessProbe, "readinessProbe"}, {ct.StartupProbe, "startupProbe"}} {
		if p.p != nil {
			out = append(out, p)
		}
	}
	return out
}

func checkProbePorts(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		for _, cr := range running(&w.Template.Spec) {
			for _, pr := range probes(cr.C) {
				var port intstr.IntOrString
				var field string
				switch h := pr.p.ProbeHandler; {
				case h.HTTPGet != nil:
					port, field = h.HTTPGet.Port, "httpGet.port"
				case h.TCPSocket != nil:
					port, field = h.TCPSocket.Port, "tcpSocket.port"
				case h.GRPC != nil:
					port, field = intstr.FromInt32(h.GRPC.Port), "grpc.port"
				default:
					continue
				}
				path := w.SpecPath(fmt.Sprintf("%s.%s.%s", cr.Path, pr.name, field))
				declared := declaredPorts(cr.C)
				if port.Type == intstr.String {
					if _, ok := declared[port.StrVal]; !ok {
						out = append(out, c.at(w, path, fmt.Sprintf("container %q: %s uses port name %q, which the container does not declare: the kubelet cannot resolve it, the probe always fails (%s)", cr.C.Name, pr.name, port.StrVal, probeEffect(pr.name)),
							fmt.Sprintf("declare the port under containers[].ports with name: %s, or use a declared one (%s)", port.StrVal, portList(cr.C))))
					}
					continue
				}
				if _, ok := declared[fmt.Sprint(port.IntVal)]; !ok {
					f := c.at(w, path, fmt.Sprintf("container %q: %s probes port %d, which the container does not declare (%s): if nothing listens there the probe fails (%s)", cr.C.Name, pr.name, port.IntVal, portList(cr.C), probeEffect(pr.name)),
						"probe a declared port, by name, so port and probe cannot drift apart")
					f.Severity = Warning
					out = append(out, f)
				}
			}
		}
	}
	return out
}

func probeEffect(name string) string {
	switch name {
	case "livenessProbe":
		return "the container restarts in a loop"
	case "readinessProbe":
		return "the pod never becomes Ready, and the HPA counts it as unready"
	}
	return "the container never starts"
}

func declaredPorts(ct *corev1.Container) map[string]bool {
	out := map[string]bool{}
	for _, p := range ct.Ports {
		out[fmt.Sprint(p.ContainerPort)] = true
		if p.Name != "" {
			out[p.Name] = true
		}
	}
	return out
}

func portList(ct *corev1.Container) string {
	var ps []string
	for _, p := range ct.Ports {
		if p.Name != "" {
			ps = append(ps, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
		} else {
			ps = append(ps, fmt.Sprint(p.ContainerPort))
		}
	}
	if len(ps) == 0 {
		return "it declares none"
	}
	return "declared: " + strings.Join(ps, ", ")
}

// imageName strips the registry host and the tag or digest:
// "registry.example/voiceassist/server:1.0" → "voiceassist/server".
func imageName(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return image
}

func (c *Context) shelless(image string) bool {
	name := imageName(image)
	for _, p := range c.Config.ShellessImages {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func checkExecNoShell(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		for _, cr := range running(&w.Template.Spec) {
			if !c.shelless(cr.C.Image) {
				continue
			}
			type execRef struct {
				h    *corev1.ExecAction
				path string
			}
			var execs []execRef
			for _, pr := range probes(cr.C) {
				if pr.p.Exec != nil {
					execs = append(execs, execRef{pr.p.Exec, pr.name + ".exec.command"})
				}
			}
			if lc := cr.C.Lifecycle; lc != nil {
				if lc.PreStop != nil && lc.PreStop.Exec != nil {
					execs = append(execs, execRef{lc.PreStop.Exec, "lifecycle.preStop.exec.command"})
				}
				if lc.PostStart != nil && lc.PostStart.Exec != nil {
					execs = append(execs, execRef{lc.PostStart.Exec, "lifecycle.postStart.exec.command"})
				}
			}
			for _, e := range execs {
				out = append(out, c.at(w, w.SpecPath(cr.Path+"."+e.path),
					fmt.Sprintf("container %q runs exec %q in image %s, which has no shell or tools: the command cannot start, so the check always fails", cr.C.Name, strings.Join(e.h.Command, " "), cr.C.Image),
					"use an httpGet (the server's /health or /ready), tcpSocket or grpc probe on a declared port; a preStop delay needs lifecycle.preStop.sleep (Kubernetes 1.30+)"))
			}
		}
	}
	return out
}
