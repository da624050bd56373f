package lint

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Context is what a rule sees: one input's objects, typed and indexed.
type Context struct {
	Input  *Input
	Config *Config
	// Set indexes the typed objects (HPAs, PDBs, VPAs, workloads, …) and
	// those of kinds the scheme lacks (KEDA ScaledObjects, other CRDs).
	Set *kube.Set

	inputOrder int
	// objects maps each decoded object to its source record (file, line).
	objects map[runtime.Object]*Object
	bases   []*Context
}

func newContext(in *Input, cfg *Config, order int) *Context {
	c := &Context{
		Input:      in,
		Config:     cfg,
		Set:        &kube.Set{},
		objects:    make(map[runtime.Object]*Object, len(in.Objects)),
		inputOrder: order,
	}
	for i, o := range in.Objects {
		o.index = i
		c.objects[o.Obj] = o
		c.Set.Add(kube.Object{Obj: o.Obj, GVK: o.GVK, Ref: o.Ref})
	}
	for _, b := range in.Bases {
		c.bases = append(c.bases, newContext(b, cfg, 0))
	}
	return c
}

// at starts a finding on obj (a decoded object of this input, a workload,
// or an *Object) at field.
func (c *Context) at(obj any, field, msg, fix string) Finding {
	f := Finding{Field: field, Message: msg, Fix: fix}
	switch o := obj.(type) {
	case *Object:
		f.obj = o
	case kube.Workload:
		f.obj = c.objects[o.Obj]
	case runtime.Object:
		f.obj = c.objects[o]
	}
	return f
}

// Object returns the source record of a decoded object of this input.
func (c *Context) Object(obj runtime.Object) *Object { return c.objects[obj] }

// MinMaxReplicas returns the replica range of w: its HPAs' bounds when an
// HPA scales it, else its replicas (default 1) twice.
func (c *Context) MinMaxReplicas(w kube.Workload) (lo, hi int32, scaled bool) {
	hpas := c.Set.HPAsFor(w)
	if len(hpas) == 0 {
		n := int32(1)
		if w.Replicas != nil {
			n = *w.Replicas
		}
		return n, n, false
	}
	lo, hi = hpa.MinReplicas(hpas[0]), hpas[0].Spec.MaxReplicas
	for _, h := range hpas[1:] {
		lo, hi = min(lo, hpa.MinReplicas(h)), max(hi, h.Spec.MaxReplicas)
	}
	return lo, hi, true
}

// containerRef is one container of a pod spec and its JSON path in it.
type containerRef struct {
	C    *corev1.Container
	Path string // containers[0], initContainers[1]
	// Init is true for init containers; Sidecar for restartable ones
	// (restartPolicy: Always), which run beside the app containers.
	Init, Sidecar bool
}

// running lists the containers that run for the pod's life: the app
// containers and the restartable init containers (sidecars).
func running(spec *corev1.PodSpec) []containerRef {
	var out []containerRef
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, containerRef{C: c, Path: fmt.Sprintf("initContainers[%d]", i), Init: true, Sidecar: true})
		}
	}
	for i := range spec.Containers {
		out = append(out, containerRef{C: &spec.Containers[i], Path: fmt.Sprintf("containers[%d]", i)})
	}
	return out
}

// allContainers lists init containers (all of them) and app containers.
func allContainers(spec *corev1.PodSpec) []containerRef {
	var out []containerRef
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		side := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		out = append(out, containerRef{C: c, Path: fmt.Sprintf("initContainers[%d]", i), Init: true, Sidecar: side})
	}
	for i := range spec.Containers {
		out = append(out, containerRef{C: &spec.Containers[i], Path: fmt.Sprintf("containers[%d]", i)})
	}
	return out
}

// scaledResources returns the resources (cpu, memory) an HPA scales on
// through Resource or ContainerResource metrics.
func scaledResources(h *autoscalingv2.HorizontalPodAutoscaler) map[corev1.ResourceName]bool {
	out := map[corev1.ResourceName]bool{}
	for _, m := range h.Spec.Metrics {
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
			out[m.Resource.Name] = true
		case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
			out[m.ContainerResource.Name] = true
		}
	}
	return out
}

func hpaRef(h *autoscalingv2.HorizontalPodAutoscaler) string {
	return "HorizontalPodAutoscaler " + qualified(h.Namespace, h.Name)
}
