package doctor

import (
	"fmt"
	"time"

	"k8s.io/kubectl/pkg/util/podutils"
)

// vpaDataPeriod is how long the original README says a VPA needs before its
// recommendations mean anything.
const vpaDataPeriod = 24 * time.Hour

func checkVPAs(s *Snapshot) []Finding {
	var out []Finding
	if !s.VPACRD {
		return []Finding{{
			Check: CheckVPA, Severity: Info, Object: "CustomResourceDefinition verticalpodautoscalers.autoscaling.k8s.io",
			Message: "the VerticalPodAutoscaler CRD is not installed: no VPA recommends requests here (vactl setup leaves the staging and prod VPAs out)",
			Confirm: []string{"kubectl get crd verticalpodautoscalers.autoscaling.k8s.io", "kubectl get pods -n kube-system | grep vpa"},
			Fix:     "install the VPA (recommender only: the VPAs are updateMode Off) if you want its recommendations: https://github.com/kubernetes/autoscaler/tree/master/vertical-pod-autoscaler",
		}}
	}
	var recReady []string
	for i := range s.VPARecommenders {
		if podutils.IsPodReady(&s.VPARecommenders[i]) {
			recReady = append(recReady, s.VPARecommenders[i].Name)
		}
	}
	for _, v := range s.VPAs {
		if v.Status.Recommendation != nil && len(v.Status.Recommendation.ContainerRecommendations) > 0 {
			continue
		}
		ref := "VerticalPodAutoscaler " + s.Namespace + "/" + v.Name
		f := Finding{Check: CheckVPA, Object: ref, Confirm: []string{
			fmt.Sprintf("kubectl describe vpa %s -n %s", v.Name, s.Namespace),
			"kubectl get pods -A -l app=vpa-recommender",
		}}
		var ev []string
		for _, c := range v.Status.Conditions {
			ev = append(ev, fmt.Sprintf("condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
		age := s.Now.Sub(v.CreationTimestamp.Time)
		ev = append(ev, fmt.Sprintf("created %s ago", age.Round(time.Minute)))
		switch {
		case len(s.VPARecommenders) == 0:
			f.Severity, f.Message = Error, "the VPA has no recommendation: no vpa-recommender pod runs in the cluster"
			f.Fix = "install the VPA recommender (kube-system); the CRD alone recommends nothing"
		case len(recReady) == 0:
			for i := range s.VPARecommenders {
				ev = append(ev, fmt.Sprintf("pod %s/%s: %s", s.VPARecommenders[i].Namespace, s.VPARecommenders[i].Name, podState(&s.VPARecommenders[i])))
			}
			f.Severity, f.Message = Error, "the VPA has no recommendation: the vpa-recommender is not ready"
			f.Fix = "read the recommender's logs (kubectl logs -n kube-system deployment/vpa-recommender)"
		case v.Spec.TargetRef == nil || !s.workloadExists(v.Spec.TargetRef.Kind, v.Spec.TargetRef.Name):
			tr := "(none)"
			if v.Spec.TargetRef != nil {
				tr = v.Spec.TargetRef.Kind + " " + v.Spec.TargetRef.Name
			}
			f.Severity, f.Message = Error, "the VPA has no recommendation: its targetRef "+tr+" does not resolve"
			f.Fix = "fix spec.targetRef in the manifests (components/vpa) to name the workload"
		case age < vpaDataPeriod:
			f.Severity = Info
			f.Message = fmt.Sprintf("the VPA has no recommendation yet: it is %s old, and the recommender needs about 24 h of samples", age.Round(time.Minute))
			f.Fix = "wait: read it again after " + v.CreationTimestamp.Add(vpaDataPeriod).UTC().Format("2006-01-02 15:04 MST")
		default:
			f.Severity = Warning
			f.Message = "the VPA has no recommendation after 24 h although the recommender runs and the target exists"
			f.Fix = "read the recommender's logs; it needs metrics-server (or Prometheus history) for the target's pods"
		}
		ev = append(ev, fmt.Sprintf("vpa-recommender pods: %d, ready: %d", len(s.VPARecommenders), len(recReady)))
		f.Evidence = ev
		out = append(out, f)
	}
	return out
}

func (s *Snapshot) workloadExists(kind, name string) bool {
	switch kind {
	case "Deployment":
		for _, d := range s.Deployments {
			if d.Name == name {
				return true
			}
		}
	case "StatefulSet":
		for _, d := range s.StatefulSets {
			if d.Name == name {
				return true
			}
		}
	}
	return false
}
