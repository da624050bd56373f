package sim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Figure is one summary figure by its JSON name, as --slo and the seed
// statistics address it.
type Figure struct {
	Key  string
	Help string
	get  func(s *Summary) float64
}

// Figures lists the summary figures, in the order reports show them.
var Figures = []Figure{
	{"peakReplicas", "highest spec.replicas", func(s *Summary) float64 { return float64(s.PeakReplicas) }},
	{"catchUpSeconds", "longest stretch of load above the ready capacity (s)", func(s *Summary) float64 { return float64(s.CatchUpSeconds) }},
	{"shortfallSeconds", "seconds of load above the ready capacity", func(s *Summary) float64 { return float64(s.ShortfallSeconds) }},
	{"sloViolationSeconds", "seconds over the latency or wait SLO", func(s *Summary) float64 { return float64(s.SLOSeconds) }},
	{"podHours", "pod-hours", func(s *Summary) float64 { return s.PodHours }},
	{"oraclePodHours", "pod-hours of the perfect-foresight oracle", func(s *Summary) float64 { return s.OraclePodHours }},
	{"scaleEvents", "rescales", func(s *Summary) float64 { return float64(s.ScaleEvents) }},
	{"directionChanges", "up after down or down after up", func(s *Summary) float64 { return float64(s.DirectionChanges) }},
	{"quotaHeldSeconds", "seconds a ResourceQuota held pods back", func(s *Summary) float64 { return float64(s.QuotaHeldSeconds) }},
	{"oomKills", "containers restarted over their memory limit", func(s *Summary) float64 { return float64(s.OOMKills) }},
	{"maxP95Ms", "gateway: highest p95 latency (ms)", func(s *Summary) float64 { return s.MaxP95Ms }},
	{"dropped", "gateway: requests dropped (timed out)", func(s *Summary) float64 { return s.Dropped }},
	{"backlogAtEnd", "gateway: requests waiting at the end", func(s *Summary) float64 { return s.BacklogAtEnd }},
	{"maxDepth", "worker: highest queue depth", func(s *Summary) float64 { return float64(s.MaxDepth) }},
	{"maxAgeSeconds", "worker: oldest queued job (s)", func(s *Summary) float64 { return float64(s.MaxAgeSeconds) }},
	{"lateJobs", "worker: jobs that waited longer than the SLO", func(s *Summary) float64 { return float64(s.LateJobs) }},
	{"queuedAtEnd", "worker: jobs still queued at the end", func(s *Summary) float64 { return float64(s.QueuedAtEnd) }},
}

func lookupFigure(key string) (Figure, bool) {
	for _, f := range Figures {
		if strings.EqualFold(f.Key, key) {
			return f, true
		}
	}
	return Figure{}, false
}

// FigureStats is one figure over the seeds: the mean with its 95 %
// confidence interval (Student's t over n-1 degrees of freedom; the
// interval is the mean's, not the spread of single runs), and min and max.
type FigureStats struct {
	Mean float64 `json:"mean"`
	Lo   float64 `json:"lo95"`
	Hi   float64 `json:"hi95"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	N    int     `json:"n"`
}

// DeploymentStats are one deployment's figures over the seeds.
type DeploymentStats struct {
	Name    string                 `json:"name"`
	Figures map[string]FigureStats `json:"figures"`
}

// RunStats are one configuration's figures over the seeds.
type RunStats struct {
	Label       string            `json:"label"`
	Seeds       []uint64          `json:"seeds"`
	Deployments []DeploymentStats `json:"deployments"`
}

// t975 is the 97.5 % quantile of Student's t for 1..30 degrees of freedom.
var t975 = []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

func tQuantile(df int) float64 {
	switch {
	case df <= 0:
		return math.NaN()
	case df <= len(t975):
		return t975[df-1]
	case df <= 60:
		return 2.000
	case df <= 120:
		return 1.980
	default:
		return 1.960
	}
}

func describe(xs []float64) FigureStats {
	st := FigureStats{N: len(xs), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range xs {
		st.Mean += x
		st.Min, st.Max = min(st.Min, x), max(st.Max, x)
	}
	st.Mean /= float64(len(xs))
	st.Lo, st.Hi = st.Mean, st.Mean
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - st.Mean) * (x - st.Mean)
		}
		hw := tQuantile(len(xs)-1) * math.Sqrt(ss/float64(len(xs)-1)/float64(len(xs)))
		st.Lo, st.Hi = st.Mean-hw, st.Mean+hw
	}
	return st
}

// Stats summarises the runs of one configuration under several seeds.
func Stats(runs []*Result) RunStats {
	rs := RunStats{Label: runs[0].Label}
	for _, r := range runs {
		rs.Seeds = append(rs.Seeds, r.Seed)
	}
	for i := range runs[0].Deployments {
		ds := DeploymentStats{Name: runs[0].Deployments[i].Name, Figures: map[string]FigureStats{}}
		xs := make([]float64, len(runs))
		for _, f := range Figures {
			for k, r := range runs {
				xs[k] = f.get(&r.Deployments[i].Summary)
			}
			ds.Figures[f.Key] = describe(xs)
		}
		rs.Deployments = append(rs.Deployments, ds)
	}
	return rs
}

// SLO is one --slo threshold: a summary figure of a deployment at most Max.
type SLO struct {
	// Deployment is "gateway" or "worker" (or a Deployment's name).
	Deployment string  `json:"deployment"`
	Figure     string  `json:"figure"`
	Max        float64 `json:"max"`
}

func (s SLO) String() string { return fmt.Sprintf("%s.%s<=%g", s.Deployment, s.Figure, s.Max) }

// ParseSLO reads "gateway.sloViolationSeconds<=60" (or "=60").
func ParseSLO(spec string) (SLO, error) {
	key, value, ok := strings.Cut(spec, "<=")
	if !ok {
		key, value, ok = strings.Cut(spec, "=")
	}
	dep, fig, dot := strings.Cut(strings.TrimSpace(key), ".")
	if !ok || !dot {
		return SLO{}, fmt.Errorf("--slo %q: want deployment.figure<=max, e.g. gateway.sloViolationSeconds<=60", spec)
	}
	switch dep {
	case "gateway", GatewayName:
		dep = "gateway"
	case "worker", WorkerName:
		dep = "worker"
	default:
		return SLO{}, fmt.Errorf("--slo %q: deployment %q: want gateway or worker", spec, dep)
	}
	f, found := lookupFigure(fig)
	if !found {
		keys := make([]string, len(Figures))
		for i, f := range Figures {
			keys[i] = f.Key
		}
		return SLO{}, fmt.Errorf("--slo %q: unknown figure %q (want one of %s)", spec, fig, strings.Join(keys, ", "))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return SLO{}, fmt.Errorf("--slo %q: max %q: want a finite number", spec, value)
	}
	return SLO{Deployment: dep, Figure: f.Key, Max: v}, nil
}

// SLOResult is one threshold checked on one configuration, over its seeds:
// it passes when every seed's figure is at most Max.
type SLOResult struct {
	SLO
	Label string `json:"label"`
	// Worst is the highest value over the seeds; Failed counts the seeds over Max.
	Worst  float64 `json:"worst"`
	Failed int     `json:"failedSeeds"`
	Seeds  int     `json:"seeds"`
	Pass   bool    `json:"pass"`
}

// CheckSLOs evaluates the thresholds on each configuration's runs.
func CheckSLOs(slos []SLO, configs [][]*Result) []SLOResult {
	var out []SLOResult
	for _, runs := range configs {
		for _, s := range slos {
			f, _ := lookupFigure(s.Figure)
			i := 0
			if s.Deployment == "worker" {
				i = 1
			}
			res := SLOResult{SLO: s, Label: runs[0].Label, Worst: math.Inf(-1), Seeds: len(runs)}
			for _, r := range runs {
				v := f.get(&r.Deployments[i].Summary)
				res.Worst = max(res.Worst, v)
				if v > s.Max {
					res.Failed++
				}
			}
			res.Pass = res.Failed == 0
			out = append(out, res)
		}
	}
	return out
}

// ChangedParams lists the parameters of p that differ from the defaults, as
// sorted "path=value (default d)" strings.
func ChangedParams(p Params) []string {
	a, b := flatten(p), flatten(DefaultParams())
	var out []string
	for k, v := range a {
		if strings.HasPrefix(k, "profile.") {
			continue
		}
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s=%s (default %s)", k, v, b[k]))
		}
	}
	sort.Strings(out)
	return out
}
