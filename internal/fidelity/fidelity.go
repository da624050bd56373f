// Package fidelity compares a measured `vactl loadtest` run with the
// simulation of the same load: it turns the report's per-second timeline
// into the load the simulator replays and into each HPA's measured scale
// events, and says whether the simulated scale events match the measured
// ones — each within one HPA sync period, with the same peak replicas.
package fidelity

import (
	"fmt"
	"sort"

	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// Event is one change of an HPA's replicas: at second T (of the load's
// timeline) from From to To.
type Event struct {
	T      int64  `json:"t"`
	From   int32  `json:"from"`
	To     int32  `json:"to"`
	Metric string `json:"metric,omitempty"` // what drove it (simulated events)
}

// Measured is one HPA as a loadtest report saw it.
type Measured struct {
	HPA string `json:"hpa"`
	// Deployment is the HPA's target.
	Deployment string `json:"deployment"`
	Initial    int32  `json:"initial"`
	Peak       int32  `json:"peak"`
	// Events are the changes of the HPA's status.desiredReplicas: the
	// controller writes the new count there in the sync that rescales.
	Events []Event `json:"events"`
	// Syncs are the seconds at which the HPA's status changed (a sync
	// wrote it), seen by the report's once-a-second sampling.
	Syncs []int64 `json:"-"`
}

// Run is what a report gives the comparison.
type Run struct {
	// Replay is the load that was sent, second by second.
	Replay *sim.Replay
	// HPAs are the HPAs whose target the load drove (the gateway for api,
	// the workers for worker, both for all).
	HPAs []Measured
	// ExternalChanges are the seconds at which an External metric's value
	// read from external.metrics.k8s.io changed: Prometheus scraped the
	// exporter just before.
	ExternalChanges []int64
}

// Deployments the loadtest targets drive.
var driven = map[string][]string{
	loadtest.TargetAPI:    {sim.GatewayName},
	loadtest.TargetWorker: {sim.WorkerName},
	loadtest.TargetAll:    {sim.GatewayName, sim.WorkerName},
}

// FromReport reads a loadtest report. name labels the replay (the file).
// It fails, naming the field, when the report has no cluster timeline: a
// run with --url alone saw no replicas.
func FromReport(rep *loadtest.Report, name string) (*Run, error) {
	deps, ok := driven[rep.Target]
	if !ok {
		return nil, fmt.Errorf("%s: target %q: want api, worker or all", name, rep.Target)
	}
	if len(rep.Timeline) == 0 {
		return nil, fmt.Errorf("%s: timeline: empty (write the report with -o json)", name)
	}
	n := rep.Timeline[len(rep.Timeline)-1].T + 1
	r := &Run{Replay: &sim.Replay{Name: name, Requests: make([]int64, n), Jobs: make([]int64, n)}}
	byHPA := map[string]*Measured{}
	var order []string
	prevStatus := map[string]string{}
	var prevExternal string
	cluster := false
	for i, s := range rep.Timeline {
		if s.T < 0 || s.T >= n || (i > 0 && s.T <= rep.Timeline[i-1].T) {
			return nil, fmt.Errorf("%s: timeline[%d].t %d: want seconds in increasing order from 0", name, i, s.T)
		}
		if s.API != nil {
			r.Replay.Requests[s.T] = int64(s.API.Sent)
		}
		if s.Jobs != nil {
			// a job is on the queue once the gateway accepted it
			r.Replay.Jobs[s.T] = int64(s.Jobs.OK)
		}
		if s.Cluster == nil || s.Cluster.Error != "" {
			continue
		}
		cluster = true
		ext := ""
		for _, e := range s.Cluster.External {
			if e.Value != nil {
				ext += fmt.Sprintf("%s=%g;", e.Metric, *e.Value)
			}
		}
		if ext != prevExternal && prevExternal != "" {
			r.ExternalChanges = append(r.ExternalChanges, s.T)
		}
		prevExternal = ext
		for _, h := range s.Cluster.HPAs {
			if !contains(deps, h.Target) {
				continue
			}
			m := byHPA[h.Name]
			if m == nil {
				m = &Measured{HPA: h.Name, Deployment: h.Target, Initial: h.Desired, Peak: h.Desired}
				byHPA[h.Name] = m
				order = append(order, h.Name)
			}
			if last := m.lastDesired(); h.Desired != last {
				m.Events = append(m.Events, Event{T: s.T, From: last, To: h.Desired})
			}
			m.Peak = max(m.Peak, h.Desired, h.Current)
			status := fmt.Sprint(h.Current, h.Desired, h.Metrics)
			if p, seen := prevStatus[h.Name]; seen && p != status {
				m.Syncs = append(m.Syncs, s.T)
			}
			prevStatus[h.Name] = status
		}
	}
	if !cluster {
		return nil, fmt.Errorf("%s: timeline[].cluster: no second has the cluster's HPAs (a run with --url alone reads no cluster)", name)
	}
	for _, d := range deps {
		found := false
		for _, h := range order {
			found = found || byHPA[h].Deployment == d
		}
		if !found {
			return nil, fmt.Errorf("%s: timeline[].cluster.hpas: no HPA targets Deployment %s, which target %s drove", name, d, rep.Target)
		}
	}
	for _, h := range order {
		r.HPAs = append(r.HPAs, *byHPA[h])
	}
	return r, nil
}

func (m *Measured) lastDesired() int32 {
	if len(m.Events) == 0 {
		return m.Initial
	}
	return m.Events[len(m.Events)-1].To
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Phase is the most common second, modulo period, of times; ok is false
// without any. The HPA controller syncs, and Prometheus scrapes, on a fixed
// period from when the process started, so the seconds at which the
// report saw a change share one phase (give or take the sampling's second).
func Phase(times []int64, period int64) (phase int64, ok bool) {
	if period <= 0 || len(times) == 0 {
		return 0, false
	}
	count := map[int64]int{}
	for _, t := range times {
		count[((t%period)+period)%period]++
	}
	keys := make([]int64, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	best := keys[0]
	for _, k := range keys {
		if count[k] > count[best] {
			best = k
		}
	}
	return best, true
}

// Phases are the simulator's phases measured from the run: the HPA sync
// from the seconds its status changed, the Prometheus scrape from the
// seconds an External metric changed (else 5 s before the sync, the
// simulator's default spacing); metrics-server keeps its default spacing
// (10 s before the sync). how says where each came from.
func (r *Run) Phases(syncPeriod, scrapePeriod int64) (ph sim.Phases, how string) {
	ph = sim.DefaultPhases()
	var syncs []int64
	for _, h := range r.HPAs {
		syncs = append(syncs, h.Syncs...)
	}
	sync, ok := Phase(syncs, syncPeriod)
	if !ok {
		return ph, "phases: the simulator's defaults (the report shows no HPA status change)"
	}
	shift := sync - ph.Sync
	ph.Sync = sync
	ph.MetricsServer = ((ph.MetricsServer+shift)%syncPeriod + syncPeriod) % syncPeriod
	how = fmt.Sprintf("HPA sync at %d s mod %d s (%d status changes)", sync, syncPeriod, len(syncs))
	if scrape, ok := Phase(r.ExternalChanges, scrapePeriod); ok {
		ph.Scrape = scrape
		how += fmt.Sprintf(", Prometheus scrape at %d s mod %d s (%d External metric changes)", scrape, scrapePeriod, len(r.ExternalChanges))
	} else {
		ph.Scrape = ((ph.Scrape+shift)%scrapePeriod + scrapePeriod) % scrapePeriod
		how += ", Prometheus scrape 5 s before it (no External metric changed)"
	}
	return ph, how
}
