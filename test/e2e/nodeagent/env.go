//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// configError is a container configuration the agent cannot build yet: a
// missing Secret or ConfigMap key, a Service without endpoints. The
// container waits with reason CreateContainerConfigError and the agent
// tries again, as a kubelet does.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// expand implements Kubernetes' $(VAR) expansion of env values, command
// and args: $(NAME) is replaced when NAME is defined, left as is when not;
// $$ is an escaped $. (The same semantics as the kubelet's
// third_party/forked/golang/expansion.)
func expand(in string, vars map[string]string) string {
	if !strings.Contains(in, "$") {
		return in
	}
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '$' || i+1 >= len(in) {
			b.WriteByte(in[i])
			continue
		}
		switch in[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(in[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := in[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envContext is what env resolution reads besides the pod itself.
type envContext struct {
	a      *Agent
	pod    *corev1.Pod
	podIP  string
	mounts []mountMap // container's mount paths → host directories
}

// buildEnv resolves a container's environment the way the kubelet does
// (envFrom, then env in order, each value expanded against what came
// before), starting from the image's own environment (Binary.Env, PATH,
// HOME, HOSTNAME) and adding POD_IP unless the pod defines it.
func (ec *envContext) buildEnv(ctx context.Context, c *corev1.Container, bin Binary) (map[string]string, []string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	set("HOME", "/")
	set("HOSTNAME", ec.pod.Name)
	keys := make([]string, 0, len(bin.Env))
	for k := range bin.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, bin.Env[k])
	}
	set("POD_IP", ec.podIP)

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := ec.a.Client.CoreV1().ConfigMaps(ec.pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, nil, configErrorf("configmap %q: %v", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := ec.a.Client.CoreV1().Secrets(ec.pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, nil, configErrorf("secret %q: %v", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		v, skip, err := ec.valueFrom(ctx, c, e)
		if err != nil {
			return nil, nil, err
		}
		if !skip {
			set(e.Name, v)
		}
	}
	// What a container would reach by DNS name and at its mount paths,
	// the local process reaches at an address and a host directory.
	for k, v := range vars {
		nv, err := ec.rewriteServices(v)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", k, err)
		}
		vars[k] = rewritePaths(nv, ec.mounts)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return vars, env, nil
}

func (ec *envContext) valueFrom(ctx context.Context, c *corev1.Container, e corev1.EnvVar) (v string, skip bool, err error) {
	f := e.ValueFrom
	switch {
	case f.FieldRef != nil:
		v, err := ec.fieldRef(f.FieldRef.FieldPath)
		if err != nil {
			return "", false, configErrorf("env %s: %v", e.Name, err)
		}
		return v, false, nil
	case f.ResourceFieldRef != nil:
		v, err := ec.resourceFieldRef(c, f.ResourceFieldRef)
		if err != nil {
			return "", false, configErrorf("env %s: %v", e.Name, err)
		}
		return v, false, nil
	case f.SecretKeyRef != nil:
		ref := f.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := ec.a.Client.CoreV1().Secrets(ec.pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, configErrorf("env %s: secret %q: %v", e.Name, ref.Name, err)
		}
		b, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, configErrorf("env %s: couldn't find key %s in Secret %s/%s", e.Name, ref.Key, ec.pod.Namespace, ref.Name)
		}
		return string(b), false, nil
	case f.ConfigMapKeyRef != nil:
		ref := f.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := ec.a.Client.CoreV1().ConfigMaps(ec.pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, configErrorf("env %s: configmap %q: %v", e.Name, ref.Name, err)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, configErrorf("env %s: couldn't find key %s in ConfigMap %s/%s", e.Name, ref.Key, ec.pod.Namespace, ref.Name)
		}
		return v, false, nil
	}
	return "", false, configErrorf("env %s: unsupported valueFrom", e.Name)
}

var fieldSubscript = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

func (ec *envContext) fieldRef(path string) (string, error) {
	p := ec.pod
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return ec.podIP, nil
	case "status.hostIP", "status.hostIPs":
		return ec.a.NodeIP, nil
	}
	if m := fieldSubscript.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return p.Labels[m[2]], nil
		}
		return p.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// resourceFieldRef follows the kubelet: an unset limit is the node's
// allocatable; the value is rounded up to a whole number of divisors.
func (ec *envContext) resourceFieldRef(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for i := range ec.pod.Spec.Containers {
			if ec.pod.Spec.Containers[i].Name == ref.ContainerName {
				target = &ec.pod.Spec.Containers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	var q resource.Quantity
	var found bool
	switch kind {
	case "limits":
		q, found = target.Resources.Limits[corev1.ResourceName(name)]
		if !found {
			q, found = ec.a.allocatable()[corev1.ResourceName(name)]
		}
	case "requests":
		q, found = target.Resources.Requests[corev1.ResourceName(name)]
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	if !found {
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// hostPort matches a DNS-label host name followed by ":port", not inside a
// longer name.
var hostPort = regexp.MustCompile(`(^|[^A-Za-z0-9.\-_])([a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9\-]+)*):([0-9]{1,5})`)

// rewriteServices replaces "<service>[.<namespace>[.svc[.cluster.local]]]:<port>"
// in a value with "<endpoint IP>:<target port>" of a ready endpoint of that
// Service: there is no DNS and no kube-proxy here, and a ClusterIP would
// reach nothing. A named Service without a ready endpoint yet is a
// configError (the container waits and the agent retries), so a consumer
// starts only once what it talks to has an address.
func (ec *envContext) rewriteServices(v string) (string, error) {
	if !strings.Contains(v, ":") {
		return v, nil
	}
	var firstErr error
	out := hostPort.ReplaceAllStringFunc(v, func(m string) string {
		sub := hostPort.FindStringSubmatch(m)
		lead, host, port := sub[1], sub[2], sub[5]
		if net.ParseIP(host) != nil {
			return m
		}
		svcName, ns, ok := ec.serviceName(host)
		if !ok {
			return m
		}
		addr, err := ec.a.resolveService(ns, svcName, port)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return m
		}
		if addr == "" {
			return m
		}
		return lead + addr
	})
	return out, firstErr
}

// serviceName splits a host into Service and namespace if it is one of a
// Service's DNS names as seen from the pod's namespace.
func (ec *envContext) serviceName(host string) (name, ns string, ok bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	switch {
	case len(parts) == 1:
		return parts[0], ec.pod.Namespace, true
	case len(parts) == 2:
		return parts[0], parts[1], true
	case len(parts) == 3 && parts[2] == "svc":
		return parts[0], parts[1], true
	case len(parts) == 5 && parts[2] == "svc" && parts[3] == "cluster" && parts[4] == "local":
		return parts[0], parts[1], true
	}
	return "", "", false
}

// resolveService returns "ip:port" for a ready endpoint of Service ns/name
// and the Service port `port`, "" when no such Service exists (the value is
// then left alone: it is not a Service name), or a configError when the
// Service exists but has no ready endpoint.
func (a *Agent) resolveService(ns, name, port string) (string, error) {
	svc, err := a.services.Services(ns).Get(name)
	if err != nil {
		return "", nil
	}
	pnum, _ := strconv.Atoi(port)
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if int(svc.Spec.Ports[i].Port) == pnum {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", configErrorf("service %s/%s has no port %s", ns, name, port)
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	slices, err := a.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return "", configErrorf("service %s/%s: %v", ns, name, err)
	}
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		target := int32(0)
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				target = *p.Port
			}
		}
		if target == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready || len(e.Addresses) == 0 {
				continue
			}
			return net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(target))), nil
		}
	}
	return "", configErrorf("service %s/%s has no ready endpoint for port %s yet", ns, name, port)
}

// mountMap maps a container path to the host directory that backs it.
type mountMap struct{ container, host string }

// rewritePaths replaces a mount path (or a path below it) at the start of
// the value, or after '=' or ':' (as in --dir=/data or PATH lists), with
// its host directory. Longer mount paths win.
func rewritePaths(v string, mounts []mountMap) string {
	if len(mounts) == 0 || !strings.Contains(v, "/") {
		return v
	}
	for _, m := range mounts {
		idx := 0
		for {
			i := strings.Index(v[idx:], m.container)
			if i < 0 {
				break
			}
			i += idx
			end := i + len(m.container)
			startOK := i == 0 || v[i-1] == '=' || v[i-1] == ':' || v[i-1] == ' ' || v[i-1] == '\''
			endOK := end == len(v) || v[end] == '/' || v[end] == ' ' || v[end] == ':' || v[end] == '\''
			if startOK && endOK {
				v = v[:i] + m.host + v[end:]
				idx = i + len(m.host)
			} else {
				idx = end
			}
		}
	}
	return v
}

// listenRewrite points a listen address without a host (":8000",
// "0.0.0.0:8000") at the pod's IP: every pod shares the namespace, so two
// replicas binding all addresses on one port would collide.
func listenRewrite(v, podIP string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return v
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return net.JoinHostPort(podIP, port)
	}
	return v
}
