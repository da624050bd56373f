package doctor

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// blocksEvictionAnnotation marks a PDB that blocks every eviction on
// purpose (the single-replica databases).
const blocksEvictionAnnotation = "voiceassist.io/blocks-eviction"

// databaseProcedure is k8s/performance/README.md's "Draining a node that
// runs a database".
const databaseProcedure = "kubectl cordon <node>; optionally stop writes (kubectl -n voiceassist scale deployment voiceassist-server --replicas=0); " +
	"kubectl -n voiceassist delete pod <pod> (deleting is not evicting: the PDB does not apply); kubectl -n voiceassist wait --for=condition=ready pod/<pod> --timeout=300s; " +
	"kubectl drain <node> --ignore-daemonsets --delete-emptydir-data (k8s/performance/README.md, \"Draining a node that runs a database\")"

func checkPDBs(s *Snapshot) []Finding {
	var out []Finding
	cordoned := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Spec.Unschedulable {
			cordoned[n.Name] = true
		}
	}
	for _, pdb := range s.PDBs {
		if pdb.Status.DisruptionsAllowed > 0 {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		var pods, names, onCordoned []string
		for i := range s.Pods {
			p := &s.Pods[i]
			if !sel.Matches(labelSet(p.Labels)) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			names = append(names, p.Name)
			pods = append(pods, fmt.Sprintf("pod %s on node %s: %s", p.Name, p.Spec.NodeName, podState(p)))
			if cordoned[p.Spec.NodeName] {
				onCordoned = append(onCordoned, p.Name+" on cordoned node "+p.Spec.NodeName)
			}
		}
		if len(names) == 0 || pdb.Status.ObservedGeneration == 0 {
			continue // nothing to drain, or the disruption controller has not read it yet
		}
		ref := "PodDisruptionBudget " + s.Namespace + "/" + pdb.Name
		budget := "minAvailable " + intOrString(pdb.Spec.MinAvailable)
		if pdb.Spec.MaxUnavailable != nil {
			budget = "maxUnavailable " + intOrString(pdb.Spec.MaxUnavailable)
		}
		f := Finding{Check: CheckPDB, Object: ref}
		f.Message = fmt.Sprintf("%s allows 0 disruptions (%s; %d healthy, %d desired healthy, %d expected): kubectl drain waits forever on %s",
			pdb.Name, budget, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy, pdb.Status.ExpectedPods, orNone(names))
		f.Evidence = append([]string{fmt.Sprintf("status.disruptionsAllowed 0, selector %s", metav1.FormatLabelSelector(pdb.Spec.Selector))}, pods...)
		f.Evidence = append(f.Evidence, onCordoned...)
		f.Confirm = []string{fmt.Sprintf("kubectl get pdb %s -n %s -o wide", pdb.Name, s.Namespace), fmt.Sprintf("kubectl get pods -n %s -l %s -o wide", s.Namespace, metav1.FormatLabelSelector(pdb.Spec.Selector))}
		why, intended := pdb.Annotations[blocksEvictionAnnotation]
		switch {
		case len(onCordoned) > 0:
			f.Severity = Error
			f.Message += "; a node with such a pod is cordoned, so a drain is blocked now"
		case intended:
			f.Severity = Info
			f.Message += " (" + why + ")"
		default:
			f.Severity = Warning
		}
		if intended {
			f.Fix = "move the pod by hand, never by deleting the PDB first: " + databaseProcedure
		} else {
			f.Fix = "do not delete the PDB: make a disruption possible first — fix the unhealthy pods, or add a replica (kubectl scale deployment <name> -n " + s.Namespace +
				" --replicas=<current+1>, within the HPA's bounds) so that healthy pods exceed the budget — then kubectl drain <node> --ignore-daemonsets --delete-emptydir-data"
		}
		out = append(out, f)
	}
	return out
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "no pod (none matches the selector)"
	}
	return strings.Join(ss, ", ")
}
