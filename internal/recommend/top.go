package recommend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// TopCaptures reads captures of `kubectl top pods --containers` (the spec's
// baseline.txt), with or without a NAMESPACE column (-A / --all-namespaces).
//
// One file may hold several tables, each starting with its header line, as
// a loop like `while sleep 60; do date -u +%FT%TZ; kubectl top pods
// --containers; done >> baseline.txt` writes them. A line holding only an
// RFC 3339 time stamps the table after it. Tables without a time stamp are
// placed one minute after the table before them (files in the order
// given), so that each capture is one VPA sample; metrics-server's own
// resolution is 15–60 s.
type TopCaptures struct {
	Files []string
	// Now stamps the last capture when no table carries a time stamp;
	// zero means time.Now().
	Now time.Time
}

// Name implements Source.
func (t TopCaptures) Name() string { return "kubectl top captures " + strings.Join(t.Files, ", ") }

// topTable is one parsed table of one capture.
type topTable struct {
	at   time.Time // zero when the capture carries no time stamp
	rows []Sample
}

// Read implements Source. Samples outside scope.Namespaces are dropped only
// when the capture names its namespaces.
func (t TopCaptures) Read(_ context.Context, scope Scope) (*Observations, error) {
	var tables []topTable
	for _, f := range t.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("--top: %w", err)}
		}
		ts, err := ParseTop(f, data)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		tables = append(tables, ts...)
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Unstamped tables follow the one before them by a minute; if the first
	// has no stamp, count back from now so that the last one lands at now.
	unstamped := 0
	for _, tb := range tables {
		if tb.at.IsZero() {
			unstamped++
		}
	}
	prev := now.Add(-time.Duration(unstamped) * time.Minute)
	obs := &Observations{}
	for i := range tables {
		tb := &tables[i]
		if tb.at.IsZero() {
			tb.at = prev.Add(time.Minute)
		}
		prev = tb.at
		for _, s := range tb.rows {
			if s.Namespace != "" && len(scope.Namespaces) > 0 && !slices.Contains(scope.Namespaces, s.Namespace) {
				continue
			}
			s.Time = tb.at
			obs.Samples = append(obs.Samples, s)
		}
	}
	return obs, nil
}

// ParseTop parses one capture. Errors name the file and the line.
func ParseTop(file string, data []byte) ([]topTable, error) {
	var tables []topTable
	var cur *topTable
	var cols []string // header columns of the current table
	var stamp time.Time
	seen := map[string]int{} // pod/container -> line, within the current table
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if isTopHeader(fields) {
			tables = append(tables, topTable{at: stamp})
			cur = &tables[len(tables)-1]
			cols = fields
			stamp = time.Time{}
			clear(seen)
			continue
		}
		if isPodOnlyHeader(fields) {
			return nil, fmt.Errorf("%s:%d: a capture of `kubectl top pods` without --containers: its per-pod sums cannot be split into containers", file, line)
		}
		if len(fields) == 1 {
			if ts, err := time.Parse(time.RFC3339, fields[0]); err == nil {
				stamp = ts
				continue
			}
		}
		if strings.HasPrefix(text, "No resources found") {
			continue // kubectl's answer for an empty namespace
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q before any header line (want `POD NAME CPU(cores) MEMORY(bytes)`, as `kubectl top pods --containers` prints)", file, line, clip(text))
		}
		if len(fields) != len(cols) {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d (%s)", file, line, len(fields), len(cols), strings.Join(cols, " "))
		}
		s := Sample{}
		for i, c := range cols {
			v := fields[i]
			switch c {
			case "NAMESPACE":
				s.Namespace = v
			case "POD":
				s.Pod = v
			case "NAME":
				s.Container = v
			case "CPU(cores)":
				q, err := parseNonNegative(v)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: column CPU(cores): %w", file, line, err)
				}
				s.CPUCores = q.AsApproximateFloat64()
			case "MEMORY(bytes)":
				q, err := parseNonNegative(v)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: column MEMORY(bytes): %w", file, line, err)
				}
				s.MemoryBytes = q.AsApproximateFloat64()
			}
		}
		key := s.Namespace + "/" + s.Pod + "/" + s.Container
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s:%d: pod %s container %s appears twice in one capture (first on line %d)", file, line, s.Pod, s.Container, first)
		}
		seen[key] = line
		cur.rows = append(cur.rows, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("%s: no `kubectl top pods --containers` table (header POD NAME CPU(cores) MEMORY(bytes))", file)
	}
	return tables, nil
}

// isTopHeader recognises the header of `kubectl top pods --containers`,
// optionally led by NAMESPACE. Without --containers there is no NAME
// column, and the per-pod sums cannot be split into containers.
func isTopHeader(f []string) bool {
	if len(f) > 0 && f[0] == "NAMESPACE" {
		f = f[1:]
	}
	return len(f) == 4 && f[0] == "POD" && f[1] == "NAME" && f[2] == "CPU(cores)" && f[3] == "MEMORY(bytes)"
}

func isPodOnlyHeader(f []string) bool {
	if len(f) > 0 && f[0] == "NAMESPACE" {
		f = f[1:]
	}
	return len(f) == 3 && f[0] == "NAME" && f[1] == "CPU(cores)" && f[2] == "MEMORY(bytes)"
}

func parseNonNegative(v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return q, fmt.Errorf("%q is not a quantity (like 250m or 512Mi)", v)
	}
	if q.Sign() < 0 {
		return q, fmt.Errorf("%q is negative", v)
	}
	return q, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
