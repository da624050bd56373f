package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SLO is one threshold of --slo: a latency quantile of /v1/analyze
// (p50, p95, p99), of jobs from acceptance to done (job-p50, job-p95,
// job-p99), or the share of failed requests and jobs (errors).
type SLO struct {
	Key string  `json:"key"`
	Max float64 `json:"max"` // ms for latencies, s for job latencies, a fraction for errors
}

// SLOKeys are the thresholds --slo knows.
var SLOKeys = []string{"p50", "p95", "p99", "job-p50", "job-p95", "job-p99", "errors"}

// DefaultErrorBudget is the share of failed requests a run may have when
// no --slo errors=… is given.
const DefaultErrorBudget = 0.01

func (s SLO) String() string {
	switch {
	case s.Key == "errors":
		return fmt.Sprintf("errors<=%g%%", s.Max*100)
	case strings.HasPrefix(s.Key, "job-"):
		return fmt.Sprintf("%s<=%s", s.Key, time.Duration(s.Max*float64(time.Second)))
	}
	return fmt.Sprintf("%s<=%s", s.Key, time.Duration(s.Max*float64(time.Millisecond)))
}

// ParseSLO reads "p99=500ms", "job-p95=2m" or "errors=0.5%".
func ParseSLO(spec string) (SLO, error) {
	k, v, ok := strings.Cut(spec, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || v == "" {
		return SLO{}, fmt.Errorf("--slo %q: want KEY=VALUE, e.g. p99=500ms or errors=1%%", spec)
	}
	known := false
	for _, s := range SLOKeys {
		known = known || s == k
	}
	if !known {
		return SLO{}, fmt.Errorf("--slo %q: key %q: want one of %s", spec, k, strings.Join(SLOKeys, ", "))
	}
	if k == "errors" {
		pct, isPct := strings.CutSuffix(v, "%")
		x, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if isPct {
			x /= 100
		}
		if err != nil || math.IsNaN(x) || x < 0 || x > 1 {
			return SLO{}, fmt.Errorf("--slo %q: value %q: want a share such as 1%% or 0.01", spec, v)
		}
		return SLO{Key: k, Max: x}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return SLO{}, fmt.Errorf("--slo %q: value %q: want a duration above 0, e.g. 500ms", spec, v)
	}
	if strings.HasPrefix(k, "job-") {
		return SLO{Key: k, Max: d.Seconds()}, nil
	}
	return SLO{Key: k, Max: float64(d) / float64(time.Millisecond)}, nil
}
