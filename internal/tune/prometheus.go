package tune

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// The history a trace is read from: the gateway's request rate as the
// adapter serves http_requests_per_second (its counter, rate over 2m),
// and the job arrival rate as the gateway's accepted job submissions
// (POST /v1/jobs answered 202), both over the whole namespace.
const (
	rpsQuery  = `sum(rate(http_requests_total{namespace=%q}[2m]))`
	jobsQuery = `sum(rate(http_requests_total{namespace=%q,method="post",route="/v1/jobs",code="202"}[2m]))`
	// maxPoints keeps one query_range under Prometheus' 11,000 points.
	maxPoints = 10000
)

// PrometheusTrace reads the last rng of history up to end into a trace,
// one row per step (at least 1 min, more when rng needs it to stay in one
// query). A missing jobs series is 0 (a history before jobs were
// submitted); a missing request series is an error.
func PrometheusTrace(ctx context.Context, url, namespace string, rng time.Duration, end time.Time, client api.Client) (*sim.Trace, error) {
	if client == nil {
		c, err := api.NewClient(api.Config{Address: url})
		if err != nil {
			return nil, fmt.Errorf("prometheus %s: %w", url, err)
		}
		client = c
	}
	step := max(time.Minute, (rng/maxPoints).Round(time.Second)+time.Second)
	r := promv1.Range{Start: end.Add(-rng), End: end, Step: step}
	papi := promv1.NewAPI(client)
	read := func(q string) (map[int64]float64, error) {
		v, _, _, err := papi.QueryRange(ctx, q, r)
		if err != nil {
			return nil, fmt.Errorf("prometheus %s: %s: %w", url, q, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("prometheus %s: %s: want a matrix, got %s", url, q, v.Type())
		}
		out := map[int64]float64{}
		for _, s := range m {
			for _, p := range s.Values {
				out[p.Timestamp.Unix()] += float64(p.Value)
			}
		}
		return out, nil
	}
	rps, err := read(fmt.Sprintf(rpsQuery, namespace))
	if err != nil {
		return nil, err
	}
	if len(rps) < 2 {
		return nil, fmt.Errorf("prometheus %s: %s has %d points in the last %s: no history to tune on", url, fmt.Sprintf(rpsQuery, namespace), len(rps), model.Duration(rng))
	}
	jobs, err := read(fmt.Sprintf(jobsQuery, namespace))
	if err != nil {
		return nil, err
	}
	ts := make([]int64, 0, len(rps))
	for t := range rps {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	tr := &sim.Trace{Name: fmt.Sprintf("prometheus %s last %s", url, model.Duration(rng))}
	for _, t := range ts {
		tr.T = append(tr.T, float64(t-ts[0]))
		tr.RPS = append(tr.RPS, rps[t])
		tr.Jobs = append(tr.Jobs, jobs[t])
	}
	tr.Notes = append(tr.Notes, fmt.Sprintf("%s: %d points every %s from %s", tr.Name, len(ts), step, time.Unix(ts[0], 0).UTC().Format(time.RFC3339)))
	return tr, nil
}
