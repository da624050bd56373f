package lint

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

func vpaTarget(c *Context, v *vpav1.VerticalPodAutoscaler) (kube.Workload, bool, string) {
	if v.Spec.TargetRef == nil {
		return kube.Workload{}, false, "spec.targetRef is missing"
	}
	r := v.Spec.TargetRef
	return c.Set.Target(v.Namespace, autoscalingv2.CrossVersionObjectReference{Kind: r.Kind, Name: r.Name, APIVersion: r.APIVersion})
}

func checkVPATargetMissing(c *Context) []Finding {
	var out []Finding
	for _, v := range c.Set.VPAs {
		if _, ok, why := vpaTarget(c, v); !ok {
			out = append(out, c.at(v, "spec.targetRef", why+": the VPA recommends nothing",
				"point spec.targetRef at the workload (apiVersion, kind and name as in its manifest)"))
		}
	}
	return out
}

// vpaControls returns the resources the VPA may change on w's containers
// (empty when it only recommends).
func vpaControls(v *vpav1.VerticalPodAutoscaler, w kube.Workload) map[corev1.ResourceName]bool {
	out := map[corev1.ResourceName]bool{}
	if up := v.Spec.UpdatePolicy; up != nil && up.UpdateMode != nil && *up.UpdateMode == vpav1.UpdateModeOff {
		return out
	}
	policyFor := func(name string) *vpav1.ContainerResourcePolicy {
		var star *vpav1.ContainerResourcePolicy
		if rp := v.Spec.ResourcePolicy; rp != nil {
			for i := range rp.ContainerPolicies {
				p := &rp.ContainerPolicies[i]
				if p.ContainerName == name {
					return p
				}
				if p.ContainerName == vpav1.DefaultContainerResourcePolicy {
					star = p
				}
			}
		}
		return star
	}
	for _, cr := range running(&w.Template.Spec) {
		p := policyFor(cr.C.Name)
		if p != nil && p.Mode != nil && *p.Mode == vpav1.ContainerScalingModeOff {
			continue
		}
		if p == nil || p.ControlledResources == nil {
			out[corev1.ResourceCPU], out[corev1.ResourceMemory] = true, true
			continue
		}
		for _, r := range *p.ControlledResources {
			out[r] = true
		}
	}
	return out
}

func checkVPAConflictsHPA(c *Context) []Finding {
	var out []Finding
	for _, v := range c.Set.VPAs {
		w, ok, _ := vpaTarget(c, v)
		if !ok || w.Template == nil {
			continue
		}
		controls := vpaControls(v, w)
		for _, h := range c.Set.HPAsFor(w) {
			var both []string
			for r := range scaledResources(h) {
				if controls[r] {
					both = append(both, string(r))
				}
			}
			if len(both) == 0 {
				continue
			}
			mode := "Auto (the default)"
			if v.Spec.UpdatePolicy != nil && v.Spec.UpdatePolicy.UpdateMode != nil {
				mode = string(*v.Spec.UpdatePolicy.UpdateMode)
			}
			out = append(out, c.at(v, "spec.updatePolicy.updateMode",
				fmt.Sprintf("updateMode %s changes the %s requests of %s, which %s scales on: raising requests lowers utilization, the HPA removes pods, load per pod rises, and the two fight", mode, strings.Join(sorted(both), " and "), w.Ref(), hpaRef(h)),
				`set spec.updatePolicy.updateMode: "Off" (recommendations only), or scale the HPA on a custom or external metric instead of cpu/memory`))
		}
	}
	return out
}
