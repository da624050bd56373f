package tune

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/testenv"
)

// TestPrometheusTrace backfills three hours of the gateway's request
// counter into a real Prometheus (100 req/s, then 300 req/s, of which 0.5
// job submissions a second) and reads it back as a trace.
func TestPrometheusTrace(t *testing.T) {
	end := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	start := end.Add(-3 * time.Hour)
	mid := start.Add(90 * time.Minute).Unix()
	var om bytes.Buffer
	om.WriteString("# TYPE http_requests counter\n")
	get, jobs := 0.0, 0.0
	for ts := start.Unix(); ts <= end.Unix(); ts += 15 {
		fmt.Fprintf(&om, "http_requests_total{namespace=\"voiceassist\",method=\"get\",route=\"/v1/jobs/{id}\",code=\"200\"} %g %d\n", get, ts)
		fmt.Fprintf(&om, "http_requests_total{namespace=\"voiceassist\",method=\"post\",route=\"/v1/jobs\",code=\"202\"} %g %d\n", jobs, ts)
		fmt.Fprintf(&om, "http_requests_total{namespace=\"elsewhere\",method=\"get\",route=\"/\",code=\"200\"} %d %d\n", 1000*(ts-start.Unix()), ts)
		rate := 100.0
		if ts >= mid {
			rate = 300
		}
		get += 15 * (rate - 0.5)
		jobs += 15 * 0.5
	}
	om.WriteString("# EOF\n")
	prom := testenv.StartPrometheusWithHistory(t, om.Bytes())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tr, err := PrometheusTrace(ctx, prom.URL, "voiceassist", 170*time.Minute, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.T) < 160 || tr.T[0] != 0 || tr.T[1] != 60 {
		t.Fatalf("%d rows from t=%v step %v, want ~170 one a minute from 0", len(tr.T), tr.T[0], tr.T[1]-tr.T[0])
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.01*want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("first rps", tr.RPS[0], 100)
	near("last rps", tr.RPS[len(tr.RPS)-1], 300)
	near("first jobs/s", tr.Jobs[0], 0.5)
	near("last jobs/s", tr.Jobs[len(tr.Jobs)-1], 0.5)

	_, err = PrometheusTrace(ctx, prom.URL, "nowhere", time.Hour, end, nil)
	if err == nil || !strings.Contains(err.Error(), "no history to tune on") {
		t.Errorf("a namespace without series: err %v", err)
	}
}
