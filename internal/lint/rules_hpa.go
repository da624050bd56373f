package lint

import (
	"fmt"
	"sort"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

// Kinds an HPA can scale without a custom resource: they have /scale.
var scalableKinds = map[string]string{"Deployment": "apps", "StatefulSet": "apps", "ReplicaSet": "apps", "ReplicationController": ""}

// Built-in kinds without /scale: an HPA pointing at one never works.
var unscalableKinds = map[string]bool{"DaemonSet": true, "Job": true, "CronJob": true, "Pod": true, "Service": true,
	"ConfigMap": true, "Secret": true, "PodDisruptionBudget": true, "HorizontalPodAutoscaler": true, "Namespace": true}

func checkHPATargetMissing(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == "" || ref.Name == "" {
			out = append(out, c.at(h, "spec.scaleTargetRef", "scaleTargetRef has no kind or name: the HPA scales nothing",
				"set spec.scaleTargetRef to the workload: apiVersion: apps/v1, kind: Deployment, name: <name>"))
			continue
		}
		if unscalableKinds[ref.Kind] {
			continue // hpa-target-kind says it
		}
		// An object of that name (another kind: hpa-target-kind; a custom
		// resource with /scale: fine) is not a missing target.
		_, ok, why := c.Set.Target(h.Namespace, ref)
		if ok || len(c.Set.Named(h.Namespace, ref.Name)) > 0 {
			continue
		}
		out = append(out, c.at(h, "spec.scaleTargetRef.name", why+": the HPA reports FailedGetScale and never scales",
			"point spec.scaleTargetRef at the workload that exists (check name, kind and namespace), or add the workload to these manifests"))
	}
	return out
}

func checkHPATargetKind(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == "" || ref.Name == "" {
			continue
		}
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		switch {
		case unscalableKinds[ref.Kind]:
			out = append(out, c.at(h, "spec.scaleTargetRef.kind", fmt.Sprintf("a %s has no scale subresource: the HPA can never scale it", ref.Kind),
				"target a Deployment, StatefulSet or ReplicaSet (or a custom resource with a /scale subresource)"))
			continue
		case scalableKinds[ref.Kind] != "" && gv.Group != scalableKinds[ref.Kind]:
			out = append(out, c.at(h, "spec.scaleTargetRef.apiVersion", fmt.Sprintf("apiVersion %q: a %s is served by apps/v1, so the HPA cannot find it", ref.APIVersion, ref.Kind),
				"set spec.scaleTargetRef.apiVersion: apps/v1"))
			continue
		}
		if _, ok, _ := c.Set.Target(h.Namespace, ref); ok {
			continue
		}
		if named := c.Set.Named(h.Namespace, ref.Name); len(named) > 0 && named[0].GVK.Kind != ref.Kind {
			o := named[0]
			out = append(out, c.at(h, "spec.scaleTargetRef.kind", fmt.Sprintf("scaleTargetRef says %s %q, but %s is a %s: the HPA finds no %s and never scales", ref.Kind, ref.Name, ref.Name, o.GVK.Kind, ref.Kind),
				fmt.Sprintf("set spec.scaleTargetRef.kind: %s (apiVersion %s)", o.GVK.Kind, o.GVK.GroupVersion())))
		}
	}
	return out
}

func checkHPAReplicaBounds(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		lo, hi := hpa.MinReplicas(h), h.Spec.MaxReplicas
		switch {
		case lo < 1:
			out = append(out, c.at(h, "spec.minReplicas", fmt.Sprintf("minReplicas %d: below 1 the API rejects the HPA unless the alpha HPAScaleToZero gate is on, and scaling to zero needs an Object or External metric", lo),
				"set spec.minReplicas to 1 or more"))
		case hi < 1:
			out = append(out, c.at(h, "spec.maxReplicas", fmt.Sprintf("maxReplicas %d: the API rejects an HPA whose maximum is below 1", hi), "set spec.maxReplicas to 1 or more"))
		case lo > hi:
			out = append(out, c.at(h, "spec.minReplicas", fmt.Sprintf("minReplicas %d is above maxReplicas %d: the API rejects the HPA", lo, hi),
				"make spec.minReplicas ≤ spec.maxReplicas (check the overlay patches that set each)"))
		}
	}
	return out
}

func checkHPATargetReplicas(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		hpas := c.Set.HPAsFor(w)
		if len(hpas) == 0 || w.Replicas == nil || w.TemplatePath == "" {
			continue
		}
		out = append(out, c.at(w, "spec.replicas", fmt.Sprintf("replicas: %d while %s scales this %s: every kubectl apply resets the count the HPA chose (a scale-down under load)", *w.Replicas, hpaRef(hpas[0]), w.Kind),
			"remove spec.replicas from the manifest and let the HPA own it (when migrating, see kubectl apply's last-applied-configuration)"))
	}
	return out
}

// defaultsRequest reports whether a LimitRange in namespace fills a missing
// request for res (defaultRequest, or default, which sets the limit and so
// the request).
func (c *Context) defaultsRequest(namespace string, res corev1.ResourceName) bool {
	for _, lr := range c.Set.LimitRanges {
		if lr.Namespace != namespace {
			continue
		}
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer {
				continue
			}
			if _, ok := it.DefaultRequest[res]; ok {
				return true
			}
			if _, ok := it.Default[res]; ok {
				return true
			}
		}
	}
	return false
}

func hasRequest(ct *corev1.Container, res corev1.ResourceName) bool {
	if _, ok := ct.Resources.Requests[res]; ok {
		return true
	}
	_, ok := ct.Resources.Limits[res] // the API defaults a missing request to the limit
	return ok
}

func checkHPAMissingRequest(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		w, ok, _ := c.Set.Target(h.Namespace, h.Spec.ScaleTargetRef)
		if !ok || w.Template == nil {
			continue
		}
		for i, m := range h.Spec.Metrics {
			field := fmt.Sprintf("spec.metrics[%d]", i)
			switch {
			case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
				res := m.Resource.Name
				if c.defaultsRequest(w.Namespace, res) {
					continue
				}
				var missing []string
				for _, cr := range running(&w.Template.Spec) {
					if !hasRequest(cr.C, res) {
						missing = append(missing, cr.C.Name)
					}
				}
				if len(missing) > 0 {
					out = append(out, c.at(h, field+".resource.name", fmt.Sprintf("the HPA scales on %s, but container %s of %s requests no %s: the metric fails (\"missing request for %s\") and the HPA cannot scale on it", res, strings.Join(missing, ", "), w.Ref(), res, res),
						fmt.Sprintf("set resources.requests.%s on every container of %s, restartable init containers included (or use a ContainerResource metric for one container)", res, w.Ref())))
				}
			case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
				cm := m.ContainerResource
				var found *corev1.Container
				for _, cr := range running(&w.Template.Spec) {
					if cr.C.Name == cm.Container {
						found = cr.C
					}
				}
				switch {
				case found == nil:
					out = append(out, c.at(h, field+".containerResource.container", fmt.Sprintf("%s has no container %q: the metric fails", w.Ref(), cm.Container),
						"name a container of the target in spec.metrics[].containerResource.container"))
				case !hasRequest(found, cm.Name) && !c.defaultsRequest(w.Namespace, cm.Name):
					out = append(out, c.at(h, field+".containerResource.name", fmt.Sprintf("container %q of %s requests no %s: the metric fails", cm.Container, w.Ref(), cm.Name),
						fmt.Sprintf("set resources.requests.%s on container %q", cm.Name, cm.Container)))
				}
			}
		}
	}
	return out
}

// autoscaler is anything that sets a workload's replica count.
type autoscaler struct {
	obj              *Object
	ns, kind, name   string
	field, ownerName string
}

func checkConflictingAutoscalers(c *Context) []Finding {
	var all []autoscaler
	keda := map[string]bool{} // namespace/name of ScaledObjects
	for _, u := range c.Set.Unstructured {
		o := c.Object(u)
		if o.GVK.Group != "keda.sh" || o.GVK.Kind != "ScaledObject" {
			continue
		}
		name, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "kind")
		if kind == "" {
			kind = "Deployment" // KEDA's default
		}
		keda[o.Namespace+"/"+o.Name] = true
		all = append(all, autoscaler{obj: o, ns: o.Namespace, kind: kind, name: name, field: "spec.scaleTargetRef"})
	}
	for _, h := range c.Set.HPAs {
		// KEDA makes an HPA of its own for each ScaledObject; that one is not a second autoscaler.
		owned := false
		for _, r := range h.OwnerReferences {
			owned = owned || r.Kind == "ScaledObject"
		}
		if owned || keda[h.Namespace+"/"+strings.TrimPrefix(h.Name, "keda-hpa-")] && strings.HasPrefix(h.Name, "keda-hpa-") {
			continue
		}
		ref := h.Spec.ScaleTargetRef
		all = append(all, autoscaler{obj: c.Object(h), ns: h.Namespace, kind: ref.Kind, name: ref.Name, field: "spec.scaleTargetRef"})
	}
	groups := map[string][]autoscaler{}
	var keys []string
	for _, a := range all {
		k := a.ns + "/" + a.kind + "/" + a.name
		if len(groups[k]) == 0 {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], a)
	}
	sort.Strings(keys)
	var out []Finding
	for _, k := range keys {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		for i, a := range g {
			var others []string
			for j, b := range g {
				if j != i {
					others = append(others, b.obj.Ref)
				}
			}
			out = append(out, c.at(a.obj, a.field, fmt.Sprintf("%s %s is also scaled by %s: the autoscalers overwrite each other's replica count and it flaps", a.kind, qualified(a.ns, a.name), strings.Join(others, " and ")),
				"keep one autoscaler per workload: merge the metrics into one HPA (the HPA takes the max over metrics), or let KEDA's ScaledObject own it and delete the HPA"))
		}
	}
	return out
}
