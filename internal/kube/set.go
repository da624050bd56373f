package kube

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/kustomize/api/resmap"
)

// Object is one decoded manifest object.
type Object struct {
	Obj runtime.Object
	GVK schema.GroupVersionKind
	// Ref names the object as "Kind namespace/name" for messages.
	Ref string
}

// Set is a decoded manifest set, indexed by the kinds the checks read.
type Set struct {
	Objects         []Object
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	VPAs            []*vpav1.VerticalPodAutoscaler
	Services        []*corev1.Service
	ResourceQuotas  []*corev1.ResourceQuota
	LimitRanges     []*corev1.LimitRange
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	APIServices     []*apiregistrationv1.APIService
}

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
	s.Objects = append(s.Objects, o)
	switch t := o.Obj.(type) {
	case *appsv1.Deployment:
		s.Deployments = append(s.Deployments, t)
	case *appsv1.StatefulSet:
		s.StatefulSets = append(s.StatefulSets, t)
	case *autoscalingv2.HorizontalPodAutoscaler:
		s.HPAs = append(s.HPAs, t)
	case *policyv1.PodDisruptionBudget:
		s.PDBs = append(s.PDBs, t)
	case *vpav1.VerticalPodAutoscaler:
		s.VPAs = append(s.VPAs, t)
	case *corev1.Service:
		s.Services = append(s.Services, t)
	case *corev1.ResourceQuota:
		s.ResourceQuotas = append(s.ResourceQuotas, t)
	case *corev1.LimitRange:
		s.LimitRanges = append(s.LimitRanges, t)
	case *monitoringv1.ServiceMonitor:
		s.ServiceMonitors = append(s.ServiceMonitors, t)
	case *monitoringv1.PrometheusRule:
		s.PrometheusRules = append(s.PrometheusRules, t)
	case *apiregistrationv1.APIService:
		s.APIServices = append(s.APIServices, t)
	}
}

// Workload is anything that runs pods from a template.
type Workload struct {
	Kind, Namespace, Name string
	// Replicas is nil when the manifest leaves the count to an autoscaler.
	Replicas *int32
	Selector *metav1.LabelSelector
	Template *corev1.PodTemplateSpec
}

// Ref names the workload as "Kind namespace/name".
func (w Workload) Ref() string { return w.Kind + " " + qualified(w.Namespace, w.Name) }

// Workloads lists the Deployments and StatefulSets, in manifest order.
func (s *Set) Workloads() []Workload {
	var ws []Workload
	for _, d := range s.Deployments {
		ws = append(ws, Workload{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: &d.Spec.Template})
	}
	for _, st := range s.StatefulSets {
		ws = append(ws, Workload{Kind: "StatefulSet", Namespace: st.Namespace, Name: st.Name, Replicas: st.Spec.Replicas, Selector: st.Spec.Selector, Template: &st.Spec.Template})
	}
	return ws
}

// Workload finds one workload by kind, namespace and name.
func (s *Set) Workload(kind, namespace, name string) (Workload, bool) {
	for _, w := range s.Workloads() {
		if w.Kind == kind && w.Namespace == namespace && w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// PodsMatching returns the workloads in namespace whose pod labels the
// selector matches. An invalid selector is an error.
func (s *Set) PodsMatching(namespace string, sel *metav1.LabelSelector) ([]Workload, error) {
	return s.matching(namespace, sel)
}

func (s *Set) matching(namespace string, sel *metav1.LabelSelector) ([]Workload, error) {
	if sel == nil {
		return nil, fmt.Errorf("no selector")
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	var out []Workload
	for _, w := range s.Workloads() {
		if w.Namespace == namespace && ls.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out, nil
}

// PodsMatchingMap is PodsMatching for a Service's map selector.
func (s *Set) PodsMatchingMap(namespace string, sel map[string]string) []Workload {
	ws, _ := s.matching(namespace, &metav1.LabelSelector{MatchLabels: sel})
	return ws
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
