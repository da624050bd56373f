package loadtest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Meta is what a run knows besides its timeline.
type Meta struct {
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Target        string    `json:"target"`
	Profile       string    `json:"profile"`
	ProfileDetail string    `json:"profileDetail"`
	Gateway       string    `json:"gateway"`
	Mix           string    `json:"mix"`
	APIRate       float64   `json:"apiRate,omitempty"`
	JobRate       float64   `json:"jobRate,omitempty"`
	Burst         int       `json:"burst,omitempty"`
	Namespace     string    `json:"namespace,omitempty"`
	Cluster       bool      `json:"cluster"`
	// LoadSeconds is how long load was offered; the cool-down follows.
	LoadSeconds     int64  `json:"loadSeconds"`
	CooldownSeconds int64  `json:"cooldownSeconds"`
	CooldownFrom    string `json:"cooldownFrom,omitempty"`
	Interrupted     bool   `json:"interrupted"`
	// APILatency (ms) and JobLatency (s) are over the whole run.
	APILatency     Quantiles    `json:"apiLatencyMs"`
	JobLatency     Quantiles    `json:"jobLatencySeconds"`
	JobsUnfinished int          `json:"jobsUnfinished"`
	Disruptions    []Disruption `json:"disruptions,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Meta
	API  *TrafficSummary `json:"api,omitempty"`
	Jobs *JobSummary     `json:"jobs,omitempty"`
	HPAs []HPASummary    `json:"hpas,omitempty"`
	// CapacityMetDemandSeconds is how long, from the first second in which
	// the gateway fell short of the offered load (less than 95 % of it
	// answered over the 5 seconds around it, or p99 over its --slo), until
	// the first of 10 seconds in a row without a shortfall: 0 when it never fell short, -1 when it was
	// still short when the load ended. For the worker alone it is the
	// time from the first accepted job until the last one ended (-1 while
	// any is unfinished).
	CapacityMetDemandSeconds int64 `json:"capacityMetDemandSeconds"`
	ShortfallSeconds         int64 `json:"shortfallSeconds"`
	// FirstScaleUpSeconds is the earliest first scale-up of any HPA (-1: none).
	FirstScaleUpSeconds int64 `json:"firstScaleUpSeconds"`
	// BackToMinSeconds is, after the load, when every HPA was at its
	// minimum again (-1: not within the cool-down).
	BackToMinSeconds int64       `json:"backToMinSeconds"`
	SLOs             []SLOResult `json:"slos"`
	// Notes say what makes the figures less than they seem, e.g. a load
	// generator that fell behind its profile.
	Notes    []string `json:"notes,omitempty"`
	Verdict  string   `json:"verdict"`
	Reasons  []string `json:"reasons,omitempty"`
	Timeline []Second `json:"timeline"`
}

// TrafficSummary sums one kind of request over the run.
type TrafficSummary struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Errors   map[string]int `json:"errors,omitempty"`
	// AchievedRate is OK responses per second of load.
	AchievedRate float64 `json:"achievedRate"`
	OfferedRate  float64 `json:"offeredRate"`
	// PeakOffered and PeakAchieved are the highest seconds.
	PeakOffered  float64 `json:"peakOffered"`
	PeakAchieved int     `json:"peakAchieved"`

	planned float64 // requests the profile asked for
}

// lagShare is how far below its profile a load may fall before the report
// says the generator fell behind.
const lagShare = 0.95

// JobSummary adds the jobs followed to their end.
type JobSummary struct {
	TrafficSummary
	Done        int `json:"done"`
	Failed      int `json:"failed"`
	Unfinished  int `json:"unfinished"`
	MaxInFlight int `json:"maxInFlight"`
}

// HPASummary is what one HPA did.
type HPASummary struct {
	Name    string `json:"name"`
	Target  string `json:"target"`
	Min     int32  `json:"min"`
	Max     int32  `json:"max"`
	Initial int32  `json:"initial"`
	Peak    int32  `json:"peak"`
	// PeakReady is the most ready pods of the target.
	PeakReady int32 `json:"peakReady"`
	// FirstScaleUpSeconds: when the HPA first asked for more than it had
	// at the start (-1: never).
	FirstScaleUpSeconds int64 `json:"firstScaleUpSeconds"`
	// BackToMinSeconds: seconds after the load until it was at its minimum
	// and asked for no more (-1: not within the run).
	BackToMinSeconds int64 `json:"backToMinSeconds"`
	ScaleEvents      int   `json:"scaleEvents"`
}

// SLOResult is one threshold checked.
type SLOResult struct {
	SLO      string  `json:"slo"`
	Observed float64 `json:"observed"`
	OK       bool    `json:"ok"`
	// ViolationSeconds are seconds whose own value exceeded the threshold.
	ViolationSeconds int64 `json:"violationSeconds"`
}

// shortfallRun is how many good seconds in a row mean capacity met demand.
const shortfallRun = 10

// Summarize computes the report from a timeline.
func Summarize(m Meta, tl []Second, slos []SLO) *Report {
	rep := &Report{Meta: m, Timeline: tl, FirstScaleUpSeconds: -1, BackToMinSeconds: -1}
	var p99SLO float64
	for _, s := range slos {
		if s.Key == "p99" {
			p99SLO = s.Max
		}
	}
	loadSecs := max(m.LoadSeconds, 1)
	sumTraffic := func(get func(*Second) *Traffic) *TrafficSummary {
		ts := &TrafficSummary{}
		var offered float64
		for i := range tl {
			t := get(&tl[i])
			if t == nil {
				continue
			}
			ts.Requests += t.Sent
			ts.OK += t.OK
			offered += t.Offered
			ts.PeakOffered = max(ts.PeakOffered, t.Offered)
			ts.PeakAchieved = max(ts.PeakAchieved, t.OK)
			for k, v := range t.Errors {
				if ts.Errors == nil {
					ts.Errors = map[string]int{}
				}
				ts.Errors[k] += v
			}
		}
		ts.AchievedRate = float64(ts.OK) / float64(loadSecs)
		ts.OfferedRate = offered / float64(loadSecs)
		ts.planned = offered
		return ts
	}
	hasAPI, hasJobs := false, false
	for i := range tl {
		hasAPI = hasAPI || tl[i].API != nil
		hasJobs = hasJobs || tl[i].Jobs != nil
	}
	if hasAPI {
		rep.API = sumTraffic(func(s *Second) *Traffic { return s.API })
	}
	if hasJobs {
		js := &JobSummary{TrafficSummary: *sumTraffic(func(s *Second) *Traffic {
			if s.Jobs == nil {
				return nil
			}
			return &s.Jobs.Traffic
		})}
		for _, s := range tl {
			if s.Jobs != nil {
				js.Done += s.Jobs.Done
				js.Failed += s.Jobs.Failed
				js.MaxInFlight = max(js.MaxInFlight, s.Jobs.InFlight)
			}
		}
		js.Unfinished = m.JobsUnfinished
		rep.Jobs = js
	}

	for _, c := range []struct {
		what string
		t    *TrafficSummary
	}{{"requests", rep.API}, {"jobs", rep.jobTraffic()}} {
		if c.t != nil && c.t.planned > 0 && float64(c.t.Requests) < lagShare*c.t.planned && !m.Interrupted {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the load generator sent %d of the %.0f %s the profile asked for: it fell behind (too little CPU or --max-in-flight too low), so the offered load was lower than planned", c.t.Requests, c.t.planned, c.what))
		}
	}

	// capacity against demand
	if hasAPI {
		first, good := int64(-1), 0
		rep.CapacityMetDemandSeconds = 0
		for i, s := range tl {
			if s.Phase != "load" || s.API == nil || s.API.Offered <= 0 {
				continue
			}
			short := rep.answeredShare(i) < 0.95 || (p99SLO > 0 && s.API.P99 > p99SLO)
			if short {
				rep.ShortfallSeconds++
				if first < 0 {
					first = s.T
				}
				good = 0
				rep.CapacityMetDemandSeconds = -1
				continue
			}
			good++
			if first >= 0 && good == shortfallRun && rep.CapacityMetDemandSeconds < 0 {
				rep.CapacityMetDemandSeconds = s.T - shortfallRun + 1 - first
			}
		}
	} else if hasJobs {
		rep.CapacityMetDemandSeconds = -1
		first, last := int64(-1), int64(-1)
		for _, s := range tl {
			if s.Jobs == nil {
				continue
			}
			if first < 0 && s.Jobs.OK > 0 {
				first = s.T
			}
			if s.Jobs.Done+s.Jobs.Failed > 0 {
				last = s.T
			}
		}
		if first >= 0 && last >= first && m.JobsUnfinished == 0 {
			rep.CapacityMetDemandSeconds = last - first
		}
	}

	// HPAs
	byName := map[string]*HPASummary{}
	var order []string
	prev := map[string]int32{}
	for _, s := range tl {
		if s.Cluster == nil {
			continue
		}
		for _, h := range s.Cluster.HPAs {
			hs := byName[h.Name]
			if hs == nil {
				hs = &HPASummary{Name: h.Name, Target: h.Target, Min: h.Min, Max: h.Max, Initial: h.Current,
					FirstScaleUpSeconds: -1, BackToMinSeconds: -1}
				byName[h.Name] = hs
				order = append(order, h.Name)
				prev[h.Name] = h.Current
			}
			hs.Peak = max(hs.Peak, h.Current, h.Desired)
			hs.PeakReady = max(hs.PeakReady, h.Ready)
			if hs.FirstScaleUpSeconds < 0 && max(h.Current, h.Desired) > hs.Initial {
				hs.FirstScaleUpSeconds = s.T
			}
			if h.Current != prev[h.Name] {
				hs.ScaleEvents++
				prev[h.Name] = h.Current
			}
			if s.T >= m.LoadSeconds && hs.BackToMinSeconds < 0 && h.Current <= h.Min && h.Desired <= h.Min {
				hs.BackToMinSeconds = s.T - m.LoadSeconds
			}
			if h.Current > h.Min || h.Desired > h.Min {
				hs.BackToMinSeconds = -1 // left the minimum again
			}
		}
	}
	sort.Strings(order)
	allBack := len(order) > 0
	for _, n := range order {
		hs := *byName[n]
		rep.HPAs = append(rep.HPAs, hs)
		if hs.FirstScaleUpSeconds >= 0 && (rep.FirstScaleUpSeconds < 0 || hs.FirstScaleUpSeconds < rep.FirstScaleUpSeconds) {
			rep.FirstScaleUpSeconds = hs.FirstScaleUpSeconds
		}
		if hs.BackToMinSeconds < 0 {
			allBack = false
		} else {
			rep.BackToMinSeconds = max(rep.BackToMinSeconds, hs.BackToMinSeconds)
		}
	}
	if !allBack {
		rep.BackToMinSeconds = -1
	}

	// SLOs: the default error budget unless one is given
	hasErr := false
	for _, s := range slos {
		hasErr = hasErr || s.Key == "errors"
	}
	if !hasErr {
		slos = append(append([]SLO(nil), slos...), SLO{Key: "errors", Max: DefaultErrorBudget})
	}
	for _, s := range slos {
		rep.SLOs = append(rep.SLOs, rep.check(s))
	}
	rep.verdict()
	return rep
}

// shortfallWindow is the seconds either side of a second that its answered
// share is taken over: responses are counted in the second they come back,
// so one slow second moves successes into the next, and the last second of
// the load has its answers in the cool-down.
const shortfallWindow = 2

// answeredShare is the successes over the offered requests in the window
// around second i of the timeline.
func (r *Report) answeredShare(i int) float64 {
	var ok, offered float64
	for k := max(0, i-shortfallWindow); k <= min(len(r.Timeline)-1, i+shortfallWindow); k++ {
		if t := r.Timeline[k].API; t != nil {
			ok += float64(t.OK)
			offered += t.Offered
		}
	}
	if offered == 0 {
		return 1
	}
	return ok / offered
}

// check evaluates one SLO over the run and per second.
func (r *Report) check(s SLO) SLOResult {
	res := SLOResult{SLO: s.String()}
	perSecond := func(get func(*Second) (float64, bool)) {
		for i := range r.Timeline {
			if v, ok := get(&r.Timeline[i]); ok && v > s.Max {
				res.ViolationSeconds++
			}
		}
	}
	api := func(q func(*Traffic) float64) func(*Second) (float64, bool) {
		return func(sec *Second) (float64, bool) {
			if sec.API == nil {
				return 0, false
			}
			return q(sec.API), true
		}
	}
	job := func(q func(*JobTraffic) float64) func(*Second) (float64, bool) {
		return func(sec *Second) (float64, bool) {
			if sec.Jobs == nil {
				return 0, false
			}
			return q(sec.Jobs), true
		}
	}
	switch s.Key {
	case "p50":
		res.Observed = r.APILatency.P50
		perSecond(api(func(t *Traffic) float64 { return t.P50 }))
	case "p95":
		res.Observed = r.APILatency.P95
		perSecond(api(func(t *Traffic) float64 { return t.P95 }))
	case "p99":
		res.Observed = r.APILatency.P99
		perSecond(api(func(t *Traffic) float64 { return t.P99 }))
	case "job-p50":
		res.Observed = r.JobLatency.P50
		perSecond(job(func(t *JobTraffic) float64 { return t.JobP50 }))
	case "job-p95":
		res.Observed = r.JobLatency.P95
		perSecond(job(func(t *JobTraffic) float64 { return t.JobP95 }))
	case "job-p99":
		res.Observed = r.JobLatency.P99
		perSecond(job(func(t *JobTraffic) float64 { return t.JobP99 }))
	case "errors":
		total, bad := 0, 0
		for _, t := range []*TrafficSummary{r.API, r.jobTraffic()} {
			if t != nil {
				total += t.Requests
				bad += t.Requests - t.OK
			}
		}
		if r.Jobs != nil { // an accepted job that failed or never ended is an error too
			bad += r.Jobs.Failed + r.Jobs.Unfinished
		}
		if total > 0 {
			res.Observed = float64(bad) / float64(total)
		}
		perSecond(func(sec *Second) (float64, bool) {
			n, e := 0, 0
			for _, t := range []*Traffic{sec.API, sec.jobTrafficOf()} {
				if t != nil {
					n += t.OK + t.ErrorCount()
					e += t.ErrorCount()
				}
			}
			if n == 0 {
				return 0, false
			}
			return float64(e) / float64(n), true
		})
	}
	res.OK = res.Observed <= s.Max
	return res
}

func (r *Report) jobTraffic() *TrafficSummary {
	if r.Jobs == nil {
		return nil
	}
	return &r.Jobs.TrafficSummary
}

func (s *Second) jobTrafficOf() *Traffic {
	if s.Jobs == nil {
		return nil
	}
	return &s.Jobs.Traffic
}

func (r *Report) verdict() {
	r.Verdict = "pass"
	fail := func(format string, args ...any) {
		r.Verdict = "fail"
		r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
	}
	if r.Interrupted {
		fail("interrupted after %ds of load", r.LoadSeconds)
	}
	for _, s := range r.SLOs {
		if !s.OK {
			fail("SLO %s missed: %s", s.SLO, r.observed(s))
		}
	}
	if r.API != nil && r.API.Requests == 0 {
		fail("no request was sent")
	}
	if r.Jobs != nil && r.Jobs.Unfinished > 0 {
		fail("%d jobs not done when the run ended", r.Jobs.Unfinished)
	}
	for _, d := range r.Disruptions {
		if d.Result == "error" {
			fail("disruption at %ds failed: %s", d.T, d.Message)
		}
	}
}

func (r *Report) observed(s SLOResult) string {
	switch {
	case strings.HasPrefix(s.SLO, "errors"):
		return fmt.Sprintf("%.2f%%", s.Observed*100)
	case strings.HasPrefix(s.SLO, "job-"):
		return time.Duration(s.Observed * float64(time.Second)).Round(10 * time.Millisecond).String()
	}
	return time.Duration(s.Observed * float64(time.Millisecond)).Round(time.Millisecond).String()
}

// Summary is one line for `vactl check` and the namespace record.
func (r *Report) Summary() string {
	var parts []string
	if r.API != nil {
		parts = append(parts, fmt.Sprintf("api %d/%d ok at %.1f/s, p99 %s", r.API.OK, r.API.Requests, r.API.AchievedRate,
			time.Duration(r.APILatency.P99*float64(time.Millisecond)).Round(time.Millisecond)))
	}
	if r.Jobs != nil {
		parts = append(parts, fmt.Sprintf("jobs %d done, %d failed, %d unfinished", r.Jobs.Done, r.Jobs.Failed, r.Jobs.Unfinished))
	}
	for _, h := range r.HPAs {
		parts = append(parts, fmt.Sprintf("%s %d→%d", h.Name, h.Initial, h.Peak))
	}
	s := r.Profile + ": " + strings.Join(parts, "; ")
	if len(r.Reasons) > 0 {
		s += " — " + strings.Join(r.Reasons, "; ")
	}
	return s
}

// progress is the line printed for a second while the run goes.
func (s Second) progress() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5ds %-8s", s.T, s.Phase)
	if t := s.API; t != nil {
		fmt.Fprintf(&b, " api %5.1f/s→%3d ok p50/95/99 %s/%s/%s%s", t.Offered, t.OK, ms(t.P50), ms(t.P95), ms(t.P99), errString(t.Errors))
	}
	if j := s.Jobs; j != nil {
		fmt.Fprintf(&b, " | jobs %5.1f/s→%3d acc, %d done, %d failed, %d in flight%s", j.Offered, j.OK, j.Done, j.Failed, j.InFlight, errString(j.Errors))
	}
	if c := s.Cluster; c != nil {
		for _, h := range c.HPAs {
			fmt.Fprintf(&b, " | %s %d/%d→%d", strings.TrimSuffix(h.Name, "-hpa"), h.Ready, h.Current, h.Desired)
			for _, m := range h.Metrics {
				fmt.Fprintf(&b, " %s %s/%s", shortMetric(m.Key), metricString(m.Current, m.Known, m.Unit), metricString(m.Target, true, m.Unit))
			}
		}
		for _, e := range c.External {
			if e.Value != nil {
				fmt.Fprintf(&b, " | %s %g", e.Metric, *e.Value)
			} else {
				fmt.Fprintf(&b, " | %s <unknown>", e.Metric)
			}
		}
		if c.Error != "" {
			fmt.Fprintf(&b, " | cluster: %s", c.Error)
		}
	}
	return b.String()
}

func ms(v float64) string {
	return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond).String()
}

func errString(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return " errors " + strings.Join(parts, ",")
}

// shortMetric is the last part of a metric key: "Resource/cpu" → "cpu".
func shortMetric(key string) string {
	if i := strings.LastIndex(key, "/"); i >= 0 {
		key = key[i+1:]
	}
	return strings.TrimPrefix(key, "voiceassist_")
}

func metricString(v float64, known bool, unit string) string {
	if !known {
		return "<unknown>"
	}
	return fmt.Sprintf("%g%s", float64(int64(v*10+0.5))/10, unit)
}
