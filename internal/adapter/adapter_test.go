package adapter

import (
	"strings"
	"testing"
)

const values = `
prometheus:
  url: http://prometheus.monitoring.svc
  port: 9090
rules:
  default: false
  custom:
    - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
      resources:
        overrides:
          namespace: {resource: "namespace"}
          pod: {resource: "pod"}
      name:
        matches: "^(.*)_total$"
        as: "${1}_per_second"
      metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
  external:
    - seriesQuery: 'voiceassist_queue_depth{queue!=""}'
      name:
        matches: "^voiceassist_queue_depth$"
      metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`

func TestParseFindQuery(t *testing.T) {
	v, err := Parse("values.yaml", []byte(values))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := Find(v.Rules.Custom, "http_requests_per_second")
	if !ok {
		t.Fatal("custom rule not found by its served name")
	}
	if _, ok := Find(v.Rules.Custom, "http_requests_total"); ok {
		t.Fatal("found a rule by its series name; the adapter serves the renamed metric only")
	}
	q, err := r.Query(r.SeriesName(), []Matcher{{Label: "pod", Op: "=~", Value: "a|b"}, {Label: "namespace", Op: "=", Value: "voiceassist"}}, []string{"pod"})
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(http_requests_total{namespace="voiceassist",pod=~"a|b"}[2m])) by (pod)`
	if q != want {
		t.Fatalf("query\n got %s\nwant %s", q, want)
	}
	e, ok := Find(v.Rules.External, "voiceassist_queue_depth")
	if !ok {
		t.Fatal("external rule without name.as must serve the series name")
	}
	q, _ = e.Query(e.SeriesName(), []Matcher{{Label: "queue", Op: "=", Value: "voice-jobs"}}, nil)
	if want := `max(voiceassist_queue_depth{queue="voice-jobs"}) by ()`; q != want {
		t.Fatalf("external query\n got %s\nwant %s", q, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"rules:\n  custom:\n    - seriesQuery: x\n      metricQuery: y\n", `unknown field "metricQuery"`},
		{"rules:\n  custom:\n    - seriesQuery: x\n", "seriesQuery and metricsQuery are required"},
		{"rules:\n  external:\n    - seriesQuery: x\n      metricsQuery: y\n      name: {matches: '('}\n", "name.matches"},
	} {
		_, err := Parse("v.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "v.yaml") {
			t.Errorf("Parse(%q) = %v, want an error naming v.yaml and %q", c.in, err, c.want)
		}
	}
}
