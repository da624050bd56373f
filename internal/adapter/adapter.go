// Package adapter reads our Prometheus Adapter configuration (the Helm
// chart's values file, k8s/performance/prometheus-adapter-values.yaml) and
// renders its metricsQuery templates the way Prometheus Adapter does
// (sigs.k8s.io/prometheus-adapter, pkg/naming/metrics_query.go: text/template
// with << >> delimiters over Series, LabelMatchers, LabelValuesByName,
// GroupBy and GroupBySlice), so vactl (lint, simulate) and the tests can check
// and evaluate the exact PromQL
// the HPAs will be served.
package adapter

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// Values is the part of the prometheus-adapter chart values we set.
type Values struct {
	Prometheus struct {
		URL  string `json:"url"`
		Port int    `json:"port"`
	} `json:"prometheus"`
	Rules struct {
		Default  bool   `json:"default"`
		Custom   []Rule `json:"custom"`
		External []Rule `json:"external"`
	} `json:"rules"`
}

// Rule is one discovery rule of the adapter's configuration.
type Rule struct {
	SeriesQuery string `json:"seriesQuery"`
	// SeriesFilters is accepted (the adapter's own key), not evaluated.
	SeriesFilters []struct {
		Is    string `json:"is,omitempty"`
		IsNot string `json:"isNot,omitempty"`
	} `json:"seriesFilters,omitempty"`
	Resources struct {
		Overrides map[string]struct {
			Group    string `json:"group,omitempty"`
			Resource string `json:"resource"`
		} `json:"overrides"`
		Template   string `json:"template,omitempty"`
		Namespaced *bool  `json:"namespaced,omitempty"`
	} `json:"resources"`
	Name struct {
		Matches string `json:"matches"`
		As      string `json:"as"`
	} `json:"name"`
	MetricsQuery string `json:"metricsQuery"`
}

// Parse reads a values file strictly: a misspelt key is an error, since the
// chart would silently ignore it. file names the source in errors.
func Parse(file string, data []byte) (*Values, error) {
	var v Values
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for i, r := range append(append([]Rule(nil), v.Rules.Custom...), v.Rules.External...) {
		if r.SeriesQuery == "" || r.MetricsQuery == "" {
			return nil, fmt.Errorf("%s: rule %d: seriesQuery and metricsQuery are required", file, i)
		}
		if _, err := regexp.Compile(r.Name.Matches); err != nil {
			return nil, fmt.Errorf("%s: rule %d: name.matches: %w", file, i, err)
		}
	}
	return &v, nil
}

// MetricName is the name the adapter serves a series under: name.matches
// applied to the series name and replaced with name.as (default "$1", or
// the series name when the pattern has no group).
func (r Rule) MetricName(series string) (string, bool) {
	re := regexp.MustCompile(r.Name.Matches)
	if !re.MatchString(series) {
		return "", false
	}
	as := r.Name.As
	if as == "" {
		if re.NumSubexp() > 0 {
			as = "$1"
		} else {
			return series, true
		}
	}
	return re.ReplaceAllString(series, as), true
}

// SeriesName is the metric name in the rule's seriesQuery selector.
func (r Rule) SeriesName() string {
	if i := strings.IndexAny(r.SeriesQuery, "{ "); i >= 0 {
		return r.SeriesQuery[:i]
	}
	return r.SeriesQuery
}

// Find returns the rule serving metric name in rules.
func Find(rules []Rule, name string) (Rule, bool) {
	for _, r := range rules {
		if n, ok := r.MetricName(r.SeriesName()); ok && n == name {
			return r, true
		}
	}
	return Rule{}, false
}

// Matcher is one label matcher the adapter adds: Label Op "Value".
type Matcher struct{ Label, Op, Value string }

// Query renders the rule's metricsQuery for one request, as the adapter
// does: series is the Prometheus series name, matchers the label matchers
// (namespace, pod, or the HPA's metric selector), groupBy the labels the
// adapter groups by (the resource label for custom metrics, none for
// external ones).
func (r Rule) Query(series string, matchers []Matcher, groupBy []string) (string, error) {
	tmpl, err := template.New("metrics-query").Delims("<<", ">>").Parse(r.MetricsQuery)
	if err != nil {
		return "", fmt.Errorf("metricsQuery %q: %w", r.MetricsQuery, err)
	}
	ms := make([]string, len(matchers))
	byName := map[string]string{}
	for i, m := range matchers {
		ms[i] = fmt.Sprintf("%s%s%q", m.Label, m.Op, m.Value)
		byName[m.Label] = m.Value
	}
	sort.Strings(ms)
	args := struct {
		Series            string
		LabelMatchers     string
		LabelValuesByName map[string]string
		GroupBy           string
		GroupBySlice      []string
	}{series, strings.Join(ms, ","), byName, strings.Join(groupBy, ","), groupBy}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, args); err != nil {
		return "", fmt.Errorf("metricsQuery %q: %w", r.MetricsQuery, err)
	}
	return buf.String(), nil
}
