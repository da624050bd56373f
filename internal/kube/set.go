package kube

import (
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/kustomize/api/resmap"
)

// Object is one decoded manifest object.
type Object struct {
	// Obj is the typed object, or *unstructured.Unstructured for a kind the
	// scheme does not know (a KEDA ScaledObject, say).
	Obj runtime.Object
	GVK schema.GroupVersionKind
	// Ref names the object as "Kind namespace/name" for messages.
	Ref string
}

// Set is a decoded manifest set, indexed by the kinds the checks read. It is
// the one index over manifests: lint, simulate and the tests read it. The
// zero Set is empty and ready for Add.
type Set struct {
	Objects         []Object
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	VPAs            []*vpav1.VerticalPodAutoscaler
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Namespaces      []*corev1.Namespace
	ResourceQuotas  []*corev1.ResourceQuota
	LimitRanges     []*corev1.LimitRange
	NetworkPolicies []*networkingv1.NetworkPolicy
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	APIServices     []*apiregistrationv1.APIService
	// Unstructured are the objects of kinds the scheme lacks.
	Unstructured []*unstructured.Unstructured

	workloads []Workload
	// indexes: workloads by namespace and by namespace/kind/name, HPAs by
	// the namespace/kind/name of their target, objects by namespace/name.
	wlByNS   map[string][]int
	wlByKey  map[string]int
	hpaByKey map[string][]*autoscalingv2.HorizontalPodAutoscaler
	byName   map[string][]int
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

// FromResMap decodes every resource of a kustomize build strictly. The error
// names the object that failed and the field kustomize or the decoder gave.
func FromResMap(m resmap.ResMap) (*Set, error) {
	s := &Set{}
	for _, r := range m.Resources() {
		ref := fmt.Sprintf("%s %s", r.GetKind(), qualified(r.GetNamespace(), r.GetName()))
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		obj, gvk, err := DecodeStrict(y)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		s.Add(Object{Obj: obj, GVK: gvk, Ref: ref})
	}
	return s, nil
}

// Add indexes one decoded object.
func (s *Set) Add(o Object) {
	if s.wlByKey == nil {
		s.wlByNS, s.wlByKey = map[string][]int{}, map[string]int{}
		s.hpaByKey, s.byName = map[string][]*autoscalingv2.HorizontalPodAutoscaler{}, map[string][]int{}
	}
	if a, err := meta.Accessor(o.Obj); err == nil {
		k := key(a.GetNamespace(), a.GetName())
		s.byName[k] = append(s.byName[k], len(s.Objects))
	}
	s.Objects = append(s.Objects, o)
	switch t := o.Obj.(type) {
	case *appsv1.Deployment:
		s.Deployments = append(s.Deployments, t)
	case *appsv1.StatefulSet:
		s.StatefulSets = append(s.StatefulSets, t)
	case *autoscalingv2.HorizontalPodAutoscaler:
		s.HPAs = append(s.HPAs, t)
		k := key(t.Namespace, t.Spec.ScaleTargetRef.Kind, t.Spec.ScaleTargetRef.Name)
		s.hpaByKey[k] = append(s.hpaByKey[k], t)
	case *policyv1.PodDisruptionBudget:
		s.PDBs = append(s.PDBs, t)
	case *vpav1.VerticalPodAutoscaler:
		s.VPAs = append(s.VPAs, t)
	case *corev1.Service:
		s.Services = append(s.Services, t)
	case *corev1.ConfigMap:
		s.ConfigMaps = append(s.ConfigMaps, t)
	case *corev1.Namespace:
		s.Namespaces = append(s.Namespaces, t)
	case *corev1.ResourceQuota:
		s.ResourceQuotas = append(s.ResourceQuotas, t)
	case *corev1.LimitRange:
		s.LimitRanges = append(s.LimitRanges, t)
	case *networkingv1.NetworkPolicy:
		s.NetworkPolicies = append(s.NetworkPolicies, t)
	case *monitoringv1.ServiceMonitor:
		s.ServiceMonitors = append(s.ServiceMonitors, t)
	case *monitoringv1.PrometheusRule:
		s.PrometheusRules = append(s.PrometheusRules, t)
	case *apiregistrationv1.APIService:
		s.APIServices = append(s.APIServices, t)
	case *unstructured.Unstructured:
		s.Unstructured = append(s.Unstructured, t)
	}
	if w, ok := workloadOf(o.Obj); ok {
		i := len(s.workloads)
		s.workloads = append(s.workloads, w)
		s.wlByNS[w.Namespace] = append(s.wlByNS[w.Namespace], i)
		s.wlByKey[key(w.Namespace, w.Kind, w.Name)] = i
	}
}

// Workload is anything that makes pods from a template: Deployments,
// StatefulSets, ReplicaSets, DaemonSets, Jobs, CronJobs and bare Pods.
type Workload struct {
	Kind, Namespace, Name string
	// Replicas is nil when the manifest leaves the count to an autoscaler
	// (and for kinds without a count); a Pod counts 1, a Job its parallelism.
	Replicas *int32
	Selector *metav1.LabelSelector
	Template *corev1.PodTemplateSpec
	// TemplatePath is the JSON path of the pod template in the object
	// ("spec.template"); for a Pod it is "" and the pod spec is at "spec".
	TemplatePath string
	// Scalable is true for kinds an HPA can scale (the /scale subresource).
	Scalable bool
	// Obj is the object the workload was read from.
	Obj runtime.Object
}

// Ref names the workload as "Kind namespace/name".
func (w Workload) Ref() string { return w.Kind + " " + qualified(w.Namespace, w.Name) }

// SpecPath returns the JSON path of the pod spec in the object, plus rest
// ("spec.template.spec.containers[0]").
func (w Workload) SpecPath(rest string) string {
	p := "spec"
	if w.TemplatePath != "" {
		p = w.TemplatePath + ".spec"
	}
	if rest == "" {
		return p
	}
	return p + "." + rest
}

func workloadOf(obj runtime.Object) (Workload, bool) {
	w := Workload{Obj: obj, TemplatePath: "spec.template"}
	switch t := obj.(type) {
	case *appsv1.Deployment:
		w.Kind, w.Namespace, w.Name = "Deployment", t.Namespace, t.Name
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.StatefulSet:
		w.Kind, w.Namespace, w.Name = "StatefulSet", t.Namespace, t.Name
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.ReplicaSet:
		w.Kind, w.Namespace, w.Name = "ReplicaSet", t.Namespace, t.Name
		w.Replicas, w.Selector, w.Template, w.Scalable = t.Spec.Replicas, t.Spec.Selector, &t.Spec.Template, true
	case *appsv1.DaemonSet:
		w.Kind, w.Namespace, w.Name = "DaemonSet", t.Namespace, t.Name
		w.Selector, w.Template = t.Spec.Selector, &t.Spec.Template
	case *batchv1.Job:
		w.Kind, w.Namespace, w.Name = "Job", t.Namespace, t.Name
		w.Replicas, w.Selector, w.Template = t.Spec.Parallelism, t.Spec.Selector, &t.Spec.Template
	case *batchv1.CronJob:
		w.Kind, w.Namespace, w.Name = "CronJob", t.Namespace, t.Name
		w.Template, w.TemplatePath = &t.Spec.JobTemplate.Spec.Template, "spec.jobTemplate.spec.template"
	case *corev1.Pod:
		one := int32(1)
		w.Kind, w.Namespace, w.Name = "Pod", t.Namespace, t.Name
		w.Replicas, w.TemplatePath = &one, ""
		w.Template = &corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	default:
		return Workload{}, false
	}
	return w, true
}

// Workloads lists every workload, in manifest order. The slice belongs to
// the Set: do not modify it.
func (s *Set) Workloads() []Workload { return s.workloads }

// WorkloadsIn lists the workloads of one namespace, in manifest order.
func (s *Set) WorkloadsIn(namespace string) []Workload {
	out := make([]Workload, 0, len(s.wlByNS[namespace]))
	for _, i := range s.wlByNS[namespace] {
		out = append(out, s.workloads[i])
	}
	return out
}

// Workload finds one workload by kind, namespace and name.
func (s *Set) Workload(kind, namespace, name string) (Workload, bool) {
	if i, ok := s.wlByKey[key(namespace, kind, name)]; ok {
		return s.workloads[i], true
	}
	return Workload{}, false
}

// Target resolves an HPA's (or VPA's) target reference in namespace: the
// workload, or false and why not, naming other kinds of that name.
func (s *Set) Target(namespace string, ref autoscalingv2.CrossVersionObjectReference) (Workload, bool, string) {
	if w, ok := s.Workload(ref.Kind, namespace, ref.Name); ok {
		return w, true, ""
	}
	var other []string
	for _, o := range s.Named(namespace, ref.Name) {
		if o.GVK.Kind != ref.Kind {
			other = append(other, o.GVK.Kind)
		}
	}
	if len(other) > 0 {
		return Workload{}, false, fmt.Sprintf("there is no %s %q in namespace %s, but a %s of that name", ref.Kind, ref.Name, namespace, strings.Join(other, ", a "))
	}
	return Workload{}, false, fmt.Sprintf("there is no %s %q in namespace %s", ref.Kind, ref.Name, namespace)
}

// Named returns the objects of any kind called name in namespace, in
// manifest order.
func (s *Set) Named(namespace, name string) []Object {
	var out []Object
	for _, i := range s.byName[key(namespace, name)] {
		out = append(out, s.Objects[i])
	}
	return out
}

// HPAsFor lists the HPAs whose scaleTargetRef names w.
func (s *Set) HPAsFor(w Workload) []*autoscalingv2.HorizontalPodAutoscaler {
	return s.hpaByKey[key(w.Namespace, w.Kind, w.Name)]
}

// Namespace returns the Namespace object called name, or nil.
func (s *Set) Namespace(name string) *corev1.Namespace {
	for _, n := range s.Namespaces {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// PodsMatching returns the workloads in namespace whose pod labels the
// selector matches. An invalid selector is an error.
func (s *Set) PodsMatching(namespace string, sel *metav1.LabelSelector) ([]Workload, error) {
	if sel == nil {
		return nil, fmt.Errorf("no selector")
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	var out []Workload
	for _, i := range s.wlByNS[namespace] {
		if w := s.workloads[i]; w.Template != nil && ls.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out, nil
}

// PodsMatchingMap is PodsMatching for a Service's map selector. An empty
// selector matches nothing: a Service without a selector has no pods.
func (s *Set) PodsMatchingMap(namespace string, sel map[string]string) []Workload {
	if len(sel) == 0 {
		return nil
	}
	ws, _ := s.PodsMatching(namespace, &metav1.LabelSelector{MatchLabels: sel})
	return ws
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
