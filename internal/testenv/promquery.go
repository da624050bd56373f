package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Sample is one element of an instant vector, with its labels as plain
// strings.
type Sample struct {
	Metric map[string]string
	Value  float64
}

func (s Sample) String() string {
	keys := make([]string, 0, len(s.Metric))
	for k, v := range s.Metric {
		keys = append(keys, k+"="+strconv.Quote(v))
	}
	return fmt.Sprintf("{%s} %g", strings.Join(keys, ","), s.Value)
}

// InstantVector evaluates the PromQL query q at time at (the zero time:
// Prometheus's own now) with client_golang's API client, and requires an
// instant vector.
func InstantVector(ctx context.Context, api promv1.API, q string, at time.Time) ([]Sample, error) {
	v, _, _, err := api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: result type %s, want vector", q, v.Type())
	}
	out := make([]Sample, 0, len(vec))
	for _, s := range vec {
		out = append(out, Sample{Metric: labelMap(model.LabelSet(s.Metric)), Value: float64(s.Value)})
	}
	return out, nil
}

func labelMap(ls model.LabelSet) map[string]string {
	m := make(map[string]string, len(ls))
	for k, v := range ls {
		m[string(k)] = string(v)
	}
	return m
}
