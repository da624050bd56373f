package lint

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// Context is what a rule sees: one input's objects, typed and indexed.
type Context struct {
	Input  *Input
	Config *Config
	// Set indexes the typed objects (HPAs, PDBs, VPAs, Deployments, …).
	Set *kube.Set
	// Unstructured holds the objects of kinds the scheme lacks (KEDA
	// ScaledObjects, other CRDs).
	Unstructured []*Object
	ConfigMaps   []*corev1.ConfigMap
	Namespaces   map[string]*corev1.Namespace
	// Workloads are every pod-making object, Pods included.
	Workloads []*Workload

	inputOrder int
	objects    map[runtime.Object]*Object
	bases      []*Context
	// indexes: workloads by namespace and by namespace/kind/name, HPAs by
	// the namespace/kind/name of their target, objects by namespace/name.
	wlByNS    map[string][]*Workload
	wlByKey   map[string]*Workload
	hpaByKey  map[string][]*autoscalingv2.HorizontalPodAutoscaler
	objByName map[string][]*Object
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

// Workload is anything that makes pods from a template.
type Workload struct {
	kube.Workload
	Obj *Object
	// TemplatePath is the JSON path of the pod template in the object
	// ("spec.template"); for a Pod it is "" and the pod spec is at "spec".
	TemplatePath string
	// Scalable is true for kinds an HPA can scale (the /scale subresource).
	Scalable bool
}

// specPath returns the JSON path of the pod spec, plus rest.
func (w *Workload) specPath(rest string) string {
	p := "spec"
	if w.TemplatePath != "" {
		p = w.TemplatePath + ".spec"
	}
	if rest == "" {
		return p
	}
	return p + "." + rest
}

func newContext(in *Input, cfg *Config, order int) *Context {
	c := &Context{
		Input:      in,
		Config:     cfg,
		Set:        &kube.Set{},
		Namespaces: map[string]*corev1.Namespace{},
		objects:    make(map[runtime.Object]*Object, len(in.Objects)),
		inputOrder: order,
		wlByNS:     map[string][]*Workload{},
		wlByKey:    map[string]*Workload{},
		hpaByKey:   map[string][]*autoscalingv2.HorizontalPodAutoscaler{},
		objByName:  map[string][]*Object{},
	}
	for i, o := range in.Objects {
		o.index = i
		c.objects[o.Obj] = o
		nk := key(o.Namespace, o.Name)
		c.objByName[nk] = append(c.objByName[nk], o)
		if _, ok := o.Obj.(*unstructured.Unstructured); ok {
			c.Unstructured = append(c.Unstructured, o)
			continue
		}
		c.Set.Add(kube.Object{Obj: o.Obj, GVK: o.GVK, Ref: o.Ref})
		switch t := o.Obj.(type) {
		case *corev1.ConfigMap:
			c.ConfigMaps = append(c.ConfigMaps, t)
		case *corev1.Namespace:
			c.Namespaces[t.Name] = t
		}
		if w := workloadOf(o); w != nil {
			c.Workloads = append(c.Workloads, w)
			c.wlByNS[w.Namespace] = append(c.wlByNS[w.Namespace], w)
			c.wlByKey[key(w.Namespace, w.Kind, w.Name)] = w
		}
	}
	for _, h := range c.Set.HPAs {
		k := key(h.Namespace, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		c.hpaByKey[k] = append(c.hpaByKey[k], h)
	}
	for _, b := range in.Bases {
		c.bases = append(c.bases, newContext(b, cfg, 0))
	}
	return c
}

func workloadOf(o *Object) *Workload {
	w := &Workload{Obj: o, TemplatePath: "spec.template"}
	w.Kind, w.Namespace, w.Name = o.GVK.Kind, o.Namespace, o.Name
	switch t := o.Obj.(type) {
	case *appsv1.Deployment:
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.StatefulSet:
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.ReplicaSet:
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.DaemonSet:
		w.Selector, w.Template = t.Spec.Selector, &t.Spec.Template
	case *batchv1.Job:
		w.Replicas, w.Selector, w.Template = t.Spec.Parallelism, t.Spec.Selector, &t.Spec.Template
	case *batchv1.CronJob:
		w.Template, w.TemplatePath = &t.Spec.JobTemplate.Spec.Template, "spec.jobTemplate.spec.template"
	case *corev1.Pod:
		one := int32(1)
		w.Replicas, w.TemplatePath = &one, ""
		w.Template = &corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	default:
		return nil
	}
	return w
}

// at starts a finding on obj (a typed object of this input, or an *Object)
// at field.
func (c *Context) at(obj any, field, msg, fix string) Finding {
	f := Finding{Field: field, Message: msg, Fix: fix}
	switch o := obj.(type) {
	case *Object:
		f.obj = o
	case *Workload:
		f.obj = o.Obj
	case runtime.Object:
		f.obj = c.objects[o]
	}
	return f
}

// Object returns the source record of a typed object of this input.
func (c *Context) Object(obj runtime.Object) *Object { return c.objects[obj] }

// Target resolves a scale target reference in namespace: the workload, or
// nil and why not.
func (c *Context) Target(namespace string, ref autoscalingv2.CrossVersionObjectReference) (*Workload, string) {
	if w := c.wlByKey[key(namespace, ref.Kind, ref.Name)]; w != nil {
		return w, ""
	}
	var other []string
	for _, o := range c.objByName[key(namespace, ref.Name)] {
		if o.GVK.Kind != ref.Kind {
			other = append(other, o.GVK.Kind)
		}
	}
	if len(other) > 0 {
		return nil, fmt.Sprintf("there is no %s %q in namespace %s, but a %s of that name", ref.Kind, ref.Name, namespace, strings.Join(other, ", a "))
	}
	return nil, fmt.Sprintf("there is no %s %q in namespace %s", ref.Kind, ref.Name, namespace)
}

// HPAsFor lists the HPAs that scale w.
func (c *Context) HPAsFor(w *Workload) []*autoscalingv2.HorizontalPodAutoscaler {
	return c.hpaByKey[key(w.Namespace, w.Kind, w.Name)]
}

// MinMaxReplicas returns the replica range of w: its HPAs' bounds when an
// HPA scales it, else its replicas (default 1) twice.
func (c *Context) MinMaxReplicas(w *Workload) (lo, hi int32, scaled bool) {
	hpas := c.HPAsFor(w)
	if len(hpas) == 0 {
		n := int32(1)
		if w.Replicas != nil {
			n = *w.Replicas
		}
		return n, n, false
	}
	lo, hi = minReplicas(hpas[0]), hpas[0].Spec.MaxReplicas
	for _, h := range hpas[1:] {
		lo, hi = min(lo, minReplicas(h)), max(hi, h.Spec.MaxReplicas)
	}
	return lo, hi, true
}

func minReplicas(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if h.Spec.MinReplicas == nil {
		return 1
	}
	return *h.Spec.MinReplicas
}

// Matching returns the workloads in namespace whose pod labels sel matches.
func (c *Context) Matching(namespace string, sel *metav1.LabelSelector) ([]*Workload, error) {
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	var out []*Workload
	for _, w := range c.wlByNS[namespace] {
		if w.Template != nil && ls.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out, nil
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
