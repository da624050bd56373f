// Package doctor diagnoses a running VoiceAssist namespace: the original
// README's Troubleshooting section (HPA not scaling, pods evicted or
// OOMKilled, VPA without recommendations, node drain blocked by a PDB) and
// scaling thrashing, as findings in the model of kube-linter and Popeye:
// each has a severity, the object, the evidence, the kubectl command that
// confirms it and the fix.
//
// It also explains each HPA's next decision: [Explain] replays the upstream
// controller's algorithm (internal/hpa) on the live inputs — the target's
// pods with their readiness and start times, the values the metrics APIs
// return now, queried as the HPA controller queries them, the HPA's spec and
// status — and says which metric proposes how many replicas, which policy or
// stabilization window holds the count back, and when the next step is
// allowed.
//
// The work is split in two so that the analysis is testable on constructed
// inputs: [Gather] reads everything into a [Snapshot] (the only code that
// talks to the cluster), [Diagnose] turns a Snapshot into a [Report].
package doctor
