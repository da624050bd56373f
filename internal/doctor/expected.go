package doctor

import "fmt"

// ObjectRef names one object of an environment's manifests.
type ObjectRef struct{ Kind, Namespace, Name string }

// AddExpected adds a finding for each HPA, PDB and VPA of the environment
// that the snapshot lacks, and records the environment.
func (r *Report) AddExpected(env string, s *Snapshot, want []ObjectRef) {
	r.Env = env
	have := map[ObjectRef]bool{}
	for _, h := range s.HPAs {
		have[ObjectRef{"HorizontalPodAutoscaler", h.Namespace, h.Name}] = true
	}
	for _, p := range s.PDBs {
		have[ObjectRef{"PodDisruptionBudget", p.Namespace, p.Name}] = true
	}
	for _, v := range s.VPAs {
		have[ObjectRef{"VerticalPodAutoscaler", v.Namespace, v.Name}] = true
	}
	for _, o := range want {
		if o.Namespace != s.Namespace || have[o] {
			continue
		}
		switch o.Kind {
		case "HorizontalPodAutoscaler", "PodDisruptionBudget":
		case "VerticalPodAutoscaler":
			if !s.VPACRD {
				continue // the CRD finding says it
			}
		default:
			continue
		}
		r.Findings = append(r.Findings, Finding{
			Check: CheckEnv, Severity: Error, Object: o.Kind + " " + o.Namespace + "/" + o.Name,
			Message: fmt.Sprintf("environment %s has %s %s, the cluster does not", env, o.Kind, o.Name),
			Confirm: []string{fmt.Sprintf("vactl diff --env %s", env)},
			Fix:     fmt.Sprintf("vactl setup --env %s", env),
		})
	}
	r.finish()
}
