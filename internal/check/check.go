// Package check is `vactl check`: the Production Checklist of the
// VoiceAssist performance guide, item by item, against a live cluster. Each
// item is pass, fail or unknown, with the evidence it was judged on and,
// when it does not pass, what to do.
//
// Reading the cluster (Gather) and judging (Evaluate) are separate: Inputs
// holds everything read, so every item's logic is tested on constructed
// inputs, and the e2e scenario tests the reading.
package check

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/lint"
)

// Status is an item's verdict.
type Status string

// The verdicts. Unknown is for what vactl cannot know (the team's training)
// or could not read (no rights, an API not served): never a guess.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Unknown Status = "unknown"
)

// Item is one line of the checklist.
type Item struct {
	// ID is stable and kebab-case, for scripts reading -o json.
	ID string `json:"id"`
	// Title is the checklist's own wording.
	Title    string   `json:"title"`
	Status   Status   `json:"status"`
	Evidence []string `json:"evidence"`
	// Fix says what to do when the item does not pass.
	Fix string `json:"fix,omitempty"`
}

// Report is the checklist for one environment of one cluster.
type Report struct {
	Env     string    `json:"env"`
	Context string    `json:"context,omitempty"`
	Server  string    `json:"server"`
	Time    time.Time `json:"time"`
	Vactl   string    `json:"vactlVersion"`
	Items   []Item    `json:"items"`
}

// Count returns how many items have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, it := range r.Items {
		if it.Status == s {
			n++
		}
	}
	return n
}

// Failed reports whether an item failed: `vactl check` exits 1.
func (r *Report) Failed() bool { return r.Count(Fail) > 0 }

// The checklist's items, in its order, with its wording.
const (
	IDMetricsServer = "metrics-server"
	IDLimits        = "resource-limits"
	IDHPAs          = "hpas"
	IDPDBs          = "pdbs"
	IDVPAs          = "vpas"
	IDMonitoring    = "monitoring"
	IDLoadtest      = "loadtest"
	IDRunbook       = "runbook"
	IDTeamTrained   = "team-trained"
	IDRollback      = "rollback"
)

// Items lists every item's ID and title, in the checklist's order.
var Items = []struct{ ID, Title string }{
	{IDMetricsServer, "Metrics Server installed and verified"},
	{IDLimits, "Resource limits set for all containers"},
	{IDHPAs, "HPAs configured with appropriate thresholds"},
	{IDPDBs, "PodDisruptionBudgets created for critical services"},
	{IDVPAs, "VPAs configured in recommendation mode"},
	{IDMonitoring, "Monitoring and alerting configured"},
	{IDLoadtest, "Load testing completed successfully"},
	{IDRunbook, "Runbook created for scaling operations"},
	{IDTeamTrained, "Team trained on troubleshooting procedures"},
	{IDRollback, "Rollback plan documented"},
}

// MetricsAPI is the name of metrics-server's APIService.
const MetricsAPI = "v1beta1.metrics.k8s.io"

// Inputs is everything the items are judged on, as read from the cluster
// (Gather). An Err field set means that piece could not be read: the items
// that need it are unknown, with the error as evidence.
type Inputs struct {
	Env string

	// metrics-server: the APIService and PodMetrics for the running pods.
	MetricsAPIAvailable bool
	MetricsAPIWhy       string
	MetricsAPIErr       error
	RunningPods         []string // names of the Running pods in the namespace
	PodMetrics          map[string]bool
	PodsErr             error

	// Resource limits: lint over the live objects (vactl lint --live).
	Lint    *LiveLint
	LintErr error

	// HPAs: the rendered ones, the server-side diff of them against the
	// cluster (changes to HPAs only), and the live HPAs.
	RenderedHPAs []string // "HorizontalPodAutoscaler voiceassist/name"
	HPAChanges   []cluster.Change
	DiffErr      error
	LiveHPAs     []autoscalingv2.HorizontalPodAutoscaler
	HPAsErr      error

	// PDBs: rendered names and the live objects.
	RenderedPDBs []string
	LivePDBs     []policyv1.PodDisruptionBudget
	PDBsErr      error

	// VPAs: rendered names, whether the API serves the kind, the live ones.
	RenderedVPAs []string
	VPAsServed   bool
	LiveVPAs     []vpav1.VerticalPodAutoscaler
	VPAsErr      error

	// Monitoring: rendered PrometheusRule names, whether the kind is
	// served, the live rules, and what Prometheus has loaded (nil: no
	// --prometheus-url).
	RenderedRules []string
	RulesServed   bool
	LiveRules     []monitoringv1.PrometheusRule
	RulesErr      error
	Prometheus    *PrometheusRules

	// Load test: the record `vactl loadtest` leaves on the namespace.
	// LoadtestErr is why the record could not be read (the item is
	// unknown); LoadtestBad is why what was read is no record (a record
	// that does not parse, or no namespace to carry one: the item fails).
	Loadtest    *cluster.LoadtestRecord
	LoadtestErr error
	LoadtestBad error

	// Runbook: the headings' anchors of the runbook vactl carries.
	RunbookAnchors map[string]bool

	// Rollback: the recorded revisions, oldest first.
	Revisions    []cluster.Revision
	RevisionsErr error
}

// PrometheusRules is what Prometheus has loaded, from its rules API.
type PrometheusRules struct {
	URL string
	Err error
	// Alerts maps each loaded alerting rule's name to its health (ok,
	// err, unknown) and, when not ok, its last error.
	Alerts map[string]string
}

// Evaluate judges every item of the checklist on in.
func Evaluate(in *Inputs) []Item {
	return []Item{
		metricsServer(in),
		limits(in),
		hpas(in),
		pdbs(in),
		vpas(in),
		monitoring(in),
		loadtest(in),
		runbook(in),
		teamTrained(),
		rollback(in),
	}
}

func item(id string) Item {
	for _, it := range Items {
		if it.ID == id {
			return Item{ID: id, Title: it.Title}
		}
	}
	panic("check: unknown item " + id)
}

func (it Item) with(s Status, fix string, evidence ...string) Item {
	it.Status, it.Fix = s, fix
	it.Evidence = append(it.Evidence, evidence...)
	return it
}

func unknownFrom(it Item, what string, err error) Item {
	return it.with(Unknown, "give vactl the rights to read it (vactl doctor names what is missing), then check again", fmt.Sprintf("cannot read %s: %v", what, err))
}

func metricsServer(in *Inputs) Item {
	it := item(IDMetricsServer)
	switch {
	case in.MetricsAPIErr != nil:
		return unknownFrom(it, "APIService "+MetricsAPI, in.MetricsAPIErr)
	case !in.MetricsAPIAvailable:
		return it.with(Fail, "install metrics-server (vactl setup installs it where metrics.k8s.io is not served; kubectl apply -k k8s/performance/metrics-server), then see vactl doctor",
			in.MetricsAPIWhy+": the HPAs cannot read CPU or memory")
	case in.PodsErr != nil:
		return unknownFrom(it.with("", "", in.MetricsAPIWhy), "the pods and their PodMetrics", in.PodsErr)
	}
	it.Evidence = append(it.Evidence, in.MetricsAPIWhy)
	if len(in.RunningPods) == 0 {
		return it.with(Unknown, "deploy the environment (vactl setup), then check again", "no running pod in namespace "+cluster.Namespace+" to verify PodMetrics for")
	}
	var missing []string
	for _, p := range in.RunningPods {
		if !in.PodMetrics[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return it.with(Fail, "metrics-server scrapes every kubelet each --metric-resolution (15 s here): a pod started just now gets metrics within a minute; if not, see metrics-server's logs and vactl doctor",
			fmt.Sprintf("no PodMetrics for %d of %d running pods: %s", len(missing), len(in.RunningPods), strings.Join(missing, ", ")))
	}
	return it.with(Pass, "", fmt.Sprintf("PodMetrics for all %d running pods in namespace %s", len(in.RunningPods), cluster.Namespace))
}

// limitRules are the lint rules about requests and limits.
var limitRules = []string{"resources-missing", "resources-limit-ratio", "limitrange-max-below-limits", "quota-below-maxima"}

func limits(in *Inputs) Item {
	it := item(IDLimits)
	if in.LintErr != nil {
		return unknownFrom(it, "the live objects", in.LintErr)
	}
	l := in.Lint
	n := 0
	for _, w := range l.Workloads() {
		if w.Template != nil {
			n += len(w.Template.Spec.Containers) + len(w.Template.Spec.InitContainers)
		}
	}
	var bad []string
	for _, f := range l.Report.Findings {
		if f.Accepted == "" && slices.Contains(limitRules, f.RuleID) {
			bad = append(bad, fmt.Sprintf("%s %s %s: %s", f.Severity, f.RuleID, f.Object, f.Message))
		}
	}
	others := l.Report.Count(lint.Error) + l.Report.Count(lint.Warning) - len(bad)
	note := fmt.Sprintf("vactl lint --live: %d error(s), %d warning(s) in all (%d accepted) over %d live objects", l.Report.Count(lint.Error), l.Report.Count(lint.Warning), l.Report.Accepted(), len(l.Objects))
	if len(l.Missing) > 0 {
		note += fmt.Sprintf("; %d object(s) vactl applied are not in the cluster: %s (vactl diff)", len(l.Missing), strings.Join(l.Missing, ", "))
	}
	if len(bad) > 0 {
		return it.with(Fail, "set requests and limits for cpu and memory on every container in the manifests and re-apply (vactl setup); a hand edit shows in vactl diff",
			append(bad, note)...)
	}
	ev := []string{fmt.Sprintf("%d containers in %d workloads: cpu and memory requests and limits set, within the limit/request band, the LimitRange and the ResourceQuota", n, len(l.Workloads())), note}
	if others > 0 {
		ev = append(ev, "the other findings are not about limits: vactl lint --live lists them")
	}
	return it.with(Pass, "", ev...)
}

func hpas(in *Inputs) Item {
	it := item(IDHPAs)
	if len(in.RenderedHPAs) == 0 {
		return it.with(Fail, "add the HPAs (k8s/performance/base) to the environment", "environment "+in.Env+" renders no HorizontalPodAutoscaler")
	}
	if in.DiffErr != nil {
		return unknownFrom(it, "the server-side diff of the HPAs", in.DiffErr)
	}
	if in.HPAsErr != nil {
		return unknownFrom(it, "the HPAs", in.HPAsErr)
	}
	var bad, ok []string
	for _, ch := range in.HPAChanges {
		switch ch.Action {
		case "create":
			bad = append(bad, ch.Ref+": not in the cluster")
		case "prune":
			bad = append(bad, ch.Ref+": in the cluster, not in environment "+in.Env)
		default:
			msg := ch.Ref + ": differs from environment " + in.Env + " (vactl diff shows how)"
			if eds := handEditors(in.LiveHPAs, ch.Ref); len(eds) > 0 {
				msg += "; fields of it are owned by " + strings.Join(eds, ", ") + " (a hand edit): vactl setup --force-conflicts takes them back"
			}
			bad = append(bad, msg)
		}
	}
	for i := range in.LiveHPAs {
		h := &in.LiveHPAs[i]
		ref := "HorizontalPodAutoscaler " + h.Namespace + "/" + h.Name
		if !slices.Contains(in.RenderedHPAs, ref) {
			continue
		}
		active := condition(h, autoscalingv2.ScalingActive)
		switch {
		case active == nil:
			bad = append(bad, ref+": the HPA controller has not evaluated it yet (no ScalingActive condition)")
		case active.Status != corev1.ConditionTrue:
			bad = append(bad, fmt.Sprintf("%s: ScalingActive=%s %s: %s", ref, active.Status, active.Reason, active.Message))
		default:
			if u := cluster.UnknownMetrics(h); len(u) > 0 {
				bad = append(bad, fmt.Sprintf("%s: metrics <unknown>: %s (the HPA never scales down while one is)", ref, strings.Join(u, ", ")))
			} else {
				ok = append(ok, fmt.Sprintf("%s: as rendered, min %d max %d, %d metrics read, ScalingActive=True", ref, minReplicas(h), h.Spec.MaxReplicas, len(h.Spec.Metrics)))
			}
		}
	}
	if len(bad) > 0 {
		return it.with(Fail, "re-apply the environment (vactl setup --env "+in.Env+") to undo hand edits; for ScalingActive or <unknown> metrics see vactl doctor", append(bad, ok...)...)
	}
	return it.with(Pass, "", ok...)
}

// handEditors are the field managers other than vactl that changed the
// HPA ref through the main resource (kubectl edit, patch, apply), in order.
func handEditors(hs []autoscalingv2.HorizontalPodAutoscaler, ref string) []string {
	var out []string
	for i := range hs {
		if "HorizontalPodAutoscaler "+hs[i].Namespace+"/"+hs[i].Name != ref {
			continue
		}
		for _, m := range hs[i].ManagedFields {
			if m.Subresource == "" && m.Manager != cluster.FieldManager && !slices.Contains(out, m.Manager) {
				out = append(out, m.Manager)
			}
		}
	}
	return out
}

func minReplicas(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if h.Spec.MinReplicas != nil {
		return *h.Spec.MinReplicas
	}
	return 1
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func pdbs(in *Inputs) Item {
	it := item(IDPDBs)
	if len(in.RenderedPDBs) == 0 {
		return it.with(Fail, "add PodDisruptionBudgets (k8s/performance/base/pod-disruption-budget.yaml) to the environment", "environment "+in.Env+" renders no PodDisruptionBudget")
	}
	if in.PDBsErr != nil {
		return unknownFrom(it, "the PodDisruptionBudgets", in.PDBsErr)
	}
	live := map[string]*policyv1.PodDisruptionBudget{}
	for i := range in.LivePDBs {
		live[in.LivePDBs[i].Name] = &in.LivePDBs[i]
	}
	var bad, ok []string
	for _, name := range in.RenderedPDBs {
		p := live[name]
		ref := "PodDisruptionBudget " + cluster.Namespace + "/" + name
		switch {
		case p == nil:
			bad = append(bad, ref+": not in the cluster")
		case p.Status.ObservedGeneration < p.Generation:
			bad = append(bad, ref+": the disruption controller has not evaluated it yet")
		case p.Status.ExpectedPods == 0:
			bad = append(bad, ref+": its selector matches no pod")
		case p.Status.DisruptionsAllowed > 0:
			ok = append(ok, fmt.Sprintf("%s: %d of %d pods healthy, %d disruption(s) allowed", ref, p.Status.CurrentHealthy, p.Status.ExpectedPods, p.Status.DisruptionsAllowed))
		default:
			if why, intended := blocksOnPurpose(p); intended {
				ok = append(ok, fmt.Sprintf("%s: blocks eviction on purpose (%s: %q); drain as k8s/performance/README.md, \"Draining a node that runs a database\", says", ref, lint.BlocksEvictionAnnotation, why))
			} else {
				bad = append(bad, fmt.Sprintf("%s: 0 disruptions allowed (%d of %d pods healthy, %d desired): a node drain blocks", ref, p.Status.CurrentHealthy, p.Status.ExpectedPods, p.Status.DesiredHealthy))
			}
		}
	}
	if len(bad) > 0 {
		return it.with(Fail, "a PDB that allows no disruption blocks every drain: wait for the pods to be healthy (vactl status), or fix minAvailable/maxUnavailable; a database PDB that blocks on purpose says so with "+lint.BlocksEvictionAnnotation+`: "intended: <why>"`,
			append(bad, ok...)...)
	}
	return it.with(Pass, "", ok...)
}

// blocksOnPurpose reads the annotation our database PDBs carry.
func blocksOnPurpose(p *policyv1.PodDisruptionBudget) (string, bool) {
	v := strings.TrimSpace(p.Annotations[lint.BlocksEvictionAnnotation])
	reason, ok := strings.CutPrefix(v, "intended:")
	return strings.TrimSpace(reason), ok && strings.TrimSpace(reason) != ""
}

func vpas(in *Inputs) Item {
	it := item(IDVPAs)
	if len(in.RenderedVPAs) == 0 {
		return it.with(Fail, "include the VPA component (k8s/performance/components/vpa, as staging and prod do) and install the VPA recommender",
			"environment "+in.Env+" renders no VerticalPodAutoscaler")
	}
	if in.VPAsErr != nil {
		return unknownFrom(it, "the VerticalPodAutoscalers", in.VPAsErr)
	}
	if !in.VPAsServed {
		return it.with(Fail, "install the Vertical Pod Autoscaler (its CRDs and recommender), then vactl setup --env "+in.Env,
			"the cluster does not serve autoscaling.k8s.io VerticalPodAutoscaler (no CRD): setup left the VPAs out")
	}
	live := map[string]*vpav1.VerticalPodAutoscaler{}
	for i := range in.LiveVPAs {
		live[in.LiveVPAs[i].Name] = &in.LiveVPAs[i]
	}
	var bad, ok []string
	for _, name := range in.RenderedVPAs {
		v := live[name]
		ref := "VerticalPodAutoscaler " + cluster.Namespace + "/" + name
		if v == nil {
			bad = append(bad, ref+": not in the cluster")
			continue
		}
		mode := "Auto (the default)"
		if v.Spec.UpdatePolicy != nil && v.Spec.UpdatePolicy.UpdateMode != nil {
			mode = string(*v.Spec.UpdatePolicy.UpdateMode)
		}
		if mode != string(vpav1.UpdateModeOff) {
			bad = append(bad, fmt.Sprintf("%s: updateMode %s, not Off: it evicts pods to resize them and fights the HPA on CPU and memory", ref, mode))
			continue
		}
		if v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
			bad = append(bad, ref+": updateMode Off, no recommendation yet (is the VPA recommender running? it needs some minutes of samples)")
			continue
		}
		var cs []string
		for _, r := range v.Status.Recommendation.ContainerRecommendations {
			cs = append(cs, fmt.Sprintf("%s cpu %s memory %s", r.ContainerName, r.Target.Cpu(), r.Target.Memory()))
		}
		ok = append(ok, ref+": updateMode Off, target "+strings.Join(cs, "; "))
	}
	if len(bad) > 0 {
		return it.with(Fail, "keep updateMode \"Off\" (re-apply with vactl setup) and make sure the VPA recommender runs (vactl doctor)", append(bad, ok...)...)
	}
	return it.with(Pass, "", ok...)
}

func monitoring(in *Inputs) Item {
	it := item(IDMonitoring)
	if len(in.RenderedRules) == 0 {
		return it.with(Fail, "include the monitoring component (k8s/performance/components/monitoring) in the environment",
			"environment "+in.Env+" renders no PrometheusRule")
	}
	if in.RulesErr != nil {
		return unknownFrom(it, "the PrometheusRules", in.RulesErr)
	}
	if !in.RulesServed {
		return it.with(Fail, "install the Prometheus Operator (kube-prometheus-stack), then vactl setup --env "+in.Env,
			"the cluster does not serve monitoring.coreos.com PrometheusRule (no CRD): setup left the alert rules out")
	}
	live := map[string]*monitoringv1.PrometheusRule{}
	for i := range in.LiveRules {
		live[in.LiveRules[i].Name] = &in.LiveRules[i]
	}
	var bad, ok []string
	var alerts []string
	for _, name := range in.RenderedRules {
		r := live[name]
		ref := "PrometheusRule " + cluster.Namespace + "/" + name
		if r == nil {
			bad = append(bad, ref+": not in the cluster")
			continue
		}
		a := alertNames(r)
		alerts = append(alerts, a...)
		ok = append(ok, fmt.Sprintf("%s: present, %d alerts", ref, len(a)))
	}
	p := in.Prometheus
	switch {
	case len(bad) > 0:
	case p == nil:
		ok = append(ok, "Prometheus not asked whether it loaded them: give --prometheus-url")
	case p.Err != nil:
		return it.with(Unknown, "check the URL and that Prometheus is up (vactl doctor)", append(ok, fmt.Sprintf("Prometheus %s: %v", p.URL, p.Err))...)
	default:
		var missing, unhealthy []string
		for _, a := range alerts {
			h, loaded := p.Alerts[a]
			switch {
			case !loaded:
				missing = append(missing, a)
			case h != "ok" && h != "unknown":
				unhealthy = append(unhealthy, a+" ("+h+")")
			}
		}
		if len(missing) > 0 {
			bad = append(bad, fmt.Sprintf("Prometheus %s has not loaded %d of our %d alerts: %s (does its ruleSelector match the PrometheusRule's labels?)", p.URL, len(missing), len(alerts), strings.Join(missing, ", ")))
		}
		if len(unhealthy) > 0 {
			bad = append(bad, fmt.Sprintf("Prometheus %s fails to evaluate: %s", p.URL, strings.Join(unhealthy, ", ")))
		}
		if len(missing)+len(unhealthy) == 0 {
			ok = append(ok, fmt.Sprintf("Prometheus %s has loaded all %d alerts", p.URL, len(alerts)))
		}
	}
	if len(bad) > 0 {
		return it.with(Fail, "apply the PrometheusRule (vactl setup --env "+in.Env+") and make Prometheus select it: kube-prometheus-stack selects rules by the label release: <its release name>",
			append(bad, ok...)...)
	}
	return it.with(Pass, "", ok...)
}

func alertNames(r *monitoringv1.PrometheusRule) []string {
	var out []string
	for _, g := range r.Spec.Groups {
		for _, x := range g.Rules {
			if x.Alert != "" {
				out = append(out, x.Alert)
			}
		}
	}
	return out
}

func loadtest(in *Inputs) Item {
	it := item(IDLoadtest)
	fix := "run vactl loadtest --env " + in.Env + " (it records its verdict on namespace " + cluster.Namespace + ")"
	switch {
	case in.LoadtestErr != nil:
		return it.with(Unknown, "grant get on namespace "+cluster.Namespace+" (a cluster-scoped read), or ask someone who has it to run vactl check", in.LoadtestErr.Error())
	case in.LoadtestBad != nil:
		return it.with(Fail, fix, in.LoadtestBad.Error())
	case in.Loadtest == nil:
		return it.with(Fail, fix, "no load test recorded on namespace "+cluster.Namespace+" (annotation "+cluster.LoadtestAnnotation+")")
	}
	r := in.Loadtest
	ev := fmt.Sprintf("last load test %s: %s, target %s, profile %s", r.Time.UTC().Format(time.RFC3339), r.Verdict, r.Target, r.Profile)
	if r.Env != "" {
		ev += ", env " + r.Env
	}
	evidence := []string{ev}
	if r.Summary != "" {
		evidence = append(evidence, r.Summary)
	}
	switch {
	case r.Verdict != "pass":
		return it.with(Fail, "fix what the load test's report names, then "+fix, evidence...)
	case r.Env == "":
		return it.with(Fail, fix, append(evidence, "the last load test named no environment; run vactl loadtest --env "+in.Env)...)
	case r.Env != in.Env:
		return it.with(Fail, fix, append(evidence, "it ran against environment "+r.Env+", not "+in.Env)...)
	}
	return it.with(Pass, "", evidence...)
}

// RunbookFile is where runbook_url points: docs/runbook.md of this
// repository, which vactl carries.
const RunbookFile = "docs/runbook.md"

func runbook(in *Inputs) Item {
	it := item(IDRunbook)
	switch {
	case len(in.RenderedRules) == 0 || (in.RulesErr == nil && !in.RulesServed):
		return it.with(Unknown, "deploy the PrometheusRule (see the monitoring item), then check again",
			"no PrometheusRule in the cluster whose runbook_url links to check; the runbook is "+RunbookFile)
	case in.RulesErr != nil:
		return unknownFrom(it, "the PrometheusRules", in.RulesErr)
	}
	var bad []string
	n := 0
	for _, r := range in.LiveRules {
		if !slices.Contains(in.RenderedRules, r.Name) {
			continue
		}
		for _, g := range r.Spec.Groups {
			for _, x := range g.Rules {
				if x.Alert == "" {
					continue
				}
				n++
				if why := runbookLink(x.Annotations["runbook_url"], in.RunbookAnchors); why != "" {
					bad = append(bad, fmt.Sprintf("PrometheusRule %s/%s alert %s: %s", r.Namespace, r.Name, x.Alert, why))
				}
			}
		}
	}
	if n == 0 {
		return it.with(Unknown, "deploy the PrometheusRule (see the monitoring item), then check again", "no alert in the cluster's PrometheusRules to check the runbook_url of")
	}
	if len(bad) > 0 {
		return it.with(Fail, "point every alert's runbook_url at a section of "+RunbookFile+" (its heading's anchor)", bad...)
	}
	ev := []string{fmt.Sprintf("all %d alerts' runbook_url resolve to sections of %s", n, RunbookFile)}
	if in.RunbookAnchors["rolling-back"] {
		ev = append(ev, "it has a rollback section: "+RunbookFile+"#rolling-back")
	}
	return it.with(Pass, "", ev...)
}

// runbookLink says what is wrong with a runbook_url, "" when it resolves:
// its path (relative, or the path of an absolute URL) must end in
// docs/runbook.md, and its fragment must be one of the runbook's anchors.
func runbookLink(u string, anchors map[string]bool) string {
	if strings.TrimSpace(u) == "" {
		return "no runbook_url annotation"
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Sprintf("runbook_url %q: %v", u, err)
	}
	if !strings.HasSuffix(path.Clean("/"+parsed.Path), "/"+RunbookFile) {
		return fmt.Sprintf("runbook_url %q does not point into %s", u, RunbookFile)
	}
	if parsed.Fragment == "" {
		return fmt.Sprintf("runbook_url %q names no section (#anchor)", u)
	}
	if !anchors[parsed.Fragment] {
		return fmt.Sprintf("runbook_url %q: #%s is not a section of %s", u, parsed.Fragment, RunbookFile)
	}
	return ""
}

func teamTrained() Item {
	return item(IDTeamTrained).with(Unknown, "walk the team through "+RunbookFile+" and the troubleshooting commands (vactl status, vactl doctor) and record it in the change ticket",
		"not something a cluster can show")
}

func rollback(in *Inputs) Item {
	it := item(IDRollback)
	if in.RevisionsErr != nil {
		return unknownFrom(it, "the recorded revisions", in.RevisionsErr)
	}
	revs := in.Revisions
	describe := func(r cluster.Revision) string {
		return fmt.Sprintf("revision %d: env %s, %s, vactl %s, %d objects", r.Number, r.Env, r.Time.UTC().Format(time.RFC3339), r.Version, r.Objects)
	}
	switch len(revs) {
	case 0:
		return it.with(Fail, "deploy with vactl setup: it records every applied revision in the cluster", "no revision recorded (Secrets "+cluster.Namespace+"/vactl-revision-N): vactl setup has not deployed here")
	case 1:
		return it.with(Fail, "nothing to roll back to until a second revision is applied; keep the previous release's manifests ready (vactl setup --dir) and see "+RunbookFile+"#rolling-back",
			describe(revs[0])+" is the only one: vactl rollback has no previous revision")
	}
	cur, prev := revs[len(revs)-1], revs[len(revs)-2]
	return it.with(Pass, "", "current "+describe(cur), "vactl rollback re-applies "+describe(prev), "procedure: "+RunbookFile+"#rolling-back")
}
