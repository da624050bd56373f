package rulesprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prometheus evaluates instant queries with the HTTP API
// (GET <URL>/api/v1/query), as Prometheus Adapter does: no time parameter,
// so Prometheus evaluates at its own "now".
//
// This is deliberately not client_golang's API client (which the rest of
// the test harness uses): the provider stands in for Prometheus Adapter,
// whose own generic client sends a GET with the query in the URL and reads
// vector and scalar results, so this one does exactly that (the request
// and the result handling are what is under test), and the module needs
// no dependency beyond what the API server needs anyway.
type Prometheus struct {
	// URL is Prometheus's base URL, e.g. http://127.0.0.1:9090.
	URL string
	// Client defaults to a client with a 10 s timeout.
	Client *http.Client
}

// Sample is one element of an instant vector (or a scalar, with no labels).
type Sample struct {
	Labels map[string]string
	Value  float64
	// Time is the evaluation time Prometheus reports (millisecond precision).
	Time time.Time
}

// Query evaluates query at Prometheus's current time.
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	hc := p.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(p.URL, "/") + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("prometheus: HTTP %d: %s", resp.StatusCode, truncate(body, 300))
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: HTTP %d: %s: %s", resp.StatusCode, r.ErrorType, r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("prometheus: vector result: %w", err)
		}
		out := make([]Sample, 0, len(vec))
		for _, e := range vec {
			s, err := parsePoint(e.Value)
			if err != nil {
				return nil, err
			}
			s.Labels = e.Metric
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var pt [2]any
		if err := json.Unmarshal(r.Data.Result, &pt); err != nil {
			return nil, fmt.Errorf("prometheus: scalar result: %w", err)
		}
		s, err := parsePoint(pt)
		if err != nil {
			return nil, err
		}
		return []Sample{s}, nil
	default:
		return nil, fmt.Errorf("prometheus: result type %q, want an instant vector", r.Data.ResultType)
	}
}

// parsePoint reads [<unix seconds>, "<value>"].
func parsePoint(pt [2]any) (Sample, error) {
	ts, ok1 := pt[0].(float64)
	vs, ok2 := pt[1].(string)
	if !ok1 || !ok2 {
		return Sample{}, fmt.Errorf("prometheus: malformed sample %v", pt)
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("prometheus: sample value %q: %w", vs, err)
	}
	return Sample{Value: v, Time: time.UnixMilli(int64(math.Round(ts * 1000)))}, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
