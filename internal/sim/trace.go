package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Trace is a recorded load: rows of (time s, req/s, jobs/s). Between rows the
// rates are interpolated linearly; after the last row it holds.
type Trace struct {
	Name string
	T    []float64
	RPS  []float64
	Jobs []float64
	// Notes say how the file was read: columns by header, a rebased start.
	Notes []string

	cursor int
}

// Column names a trace header may use (case-insensitive), by column.
var traceColumns = [3][]string{
	{"time", "t", "seconds", "timestamp"},
	{"rps", "req/s", "requests_per_s", "requests_per_second"},
	{"jobs_per_s", "jobs/s", "jobs", "jobs_per_second"},
}

var traceColumnNames = [3]string{"time", "rps", "jobs_per_s"}

// epochStart: a first time at or after this many seconds (2001-09-09) is
// read as a Unix time, as a Prometheus or load-balancer export gives.
const epochStart = 1e9

// LoadTrace reads a CSV trace file; see ParseTrace.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr, err := ParseTrace(f, path)
	if err != nil {
		return nil, err
	}
	tr.Name = filepath.Base(path)
	return tr, nil
}

// ParseTrace reads a trace from r; name is used in errors. Columns are
// time, rps, jobs_per_s: by position, or in any order by a header row that
// names them (a missing rate column is 0). '#' starts a comment line. Times
// strictly increase; a trace that does not start at 0 (Unix times, say) is
// rebased so that its first row is t=0, and a note says so. Every error
// names the file, the line and the value.
func ParseTrace(r io.Reader, name string) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tr := &Trace{Name: name}
	cols := [3]int{0, 1, 2} // field index of time, rps, jobs; -1: absent
	width := 3
	first := true
	firstLine := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if first {
			first = false
			if _, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64); err != nil {
				c, err := traceHeader(rec)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: header: %w", name, line, err)
				}
				cols, width = c, len(rec)
				tr.Notes = append(tr.Notes, fmt.Sprintf("%s: columns by header %q", name, strings.Join(rec, ",")))
				continue
			}
		}
		if len(rec) != width {
			return nil, fmt.Errorf("%s:%d: want %d fields (%s), got %d: %q", name, line, width, columnList(cols, width), len(rec), strings.Join(rec, ","))
		}
		var v [3]float64
		for i, col := range traceColumnNames {
			if cols[i] < 0 {
				continue
			}
			raw := strings.TrimSpace(rec[cols[i]])
			x, err := strconv.ParseFloat(raw, 64)
			switch {
			case err != nil:
				return nil, fmt.Errorf("%s:%d: %s %q: want a number", name, line, col, raw)
			case math.IsNaN(x) || math.IsInf(x, 0):
				return nil, fmt.Errorf("%s:%d: %s %q: want a finite number", name, line, col, raw)
			case x < 0:
				return nil, fmt.Errorf("%s:%d: %s %q: want a number >= 0", name, line, col, raw)
			}
			v[i] = x
		}
		if n := len(tr.T); n > 0 && v[0] <= tr.T[n-1] {
			return nil, fmt.Errorf("%s:%d: time %q is not after the previous row's %v", name, line, strings.TrimSpace(rec[cols[0]]), tr.T[n-1])
		}
		if len(tr.T) == 0 {
			firstLine = line
		}
		tr.T = append(tr.T, v[0])
		tr.RPS = append(tr.RPS, v[1])
		tr.Jobs = append(tr.Jobs, v[2])
	}
	if len(tr.T) == 0 {
		return nil, fmt.Errorf("%s: no rows (want time,rps,jobs_per_s)", name)
	}
	if t0 := tr.T[0]; t0 != 0 {
		for i := range tr.T {
			tr.T[i] -= t0
		}
		what := fmt.Sprintf("%v s", t0)
		if t0 >= epochStart {
			what = fmt.Sprintf("Unix time %v (%s)", t0, time.Unix(int64(t0), 0).UTC().Format(time.RFC3339))
		}
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s: rebased: its first row (line %d), at %s, is t=0", name, firstLine, what))
	}
	return tr, nil
}

// traceHeader maps a header row to the field index of each column.
func traceHeader(rec []string) ([3]int, error) {
	cols := [3]int{-1, -1, -1}
	for f, h := range rec {
		h = strings.ToLower(strings.TrimSpace(h))
		found := false
		for i, names := range traceColumns {
			for _, n := range names {
				if h == n {
					if cols[i] >= 0 {
						return cols, fmt.Errorf("column %q: %s given twice", rec[f], traceColumnNames[i])
					}
					cols[i], found = f, true
				}
			}
		}
		if !found {
			return cols, fmt.Errorf("column %q: want time, rps or jobs_per_s", rec[f])
		}
	}
	if cols[0] < 0 {
		return cols, fmt.Errorf("no time column in %q", strings.Join(rec, ","))
	}
	if cols[1] < 0 && cols[2] < 0 {
		return cols, fmt.Errorf("no rps or jobs_per_s column in %q", strings.Join(rec, ","))
	}
	return cols, nil
}

func columnList(cols [3]int, width int) string {
	names := make([]string, width)
	for i, c := range cols {
		if c >= 0 {
			names[c] = traceColumnNames[i]
		}
	}
	return strings.Join(names, ",")
}

// End is the time of the last row, at least 1 s.
func (tr *Trace) End() float64 { return max(tr.T[len(tr.T)-1], 1) }

// at interpolates the rates at t; t must not decrease between calls.
func (tr *Trace) at(t float64) (rps, jobs float64) {
	for tr.cursor+1 < len(tr.T) && tr.T[tr.cursor+1] <= t {
		tr.cursor++
	}
	i := tr.cursor
	if t <= tr.T[0] {
		return tr.RPS[0], tr.Jobs[0]
	}
	if i+1 >= len(tr.T) {
		return tr.RPS[i], tr.Jobs[i]
	}
	f := (t - tr.T[i]) / (tr.T[i+1] - tr.T[i])
	return tr.RPS[i] + f*(tr.RPS[i+1]-tr.RPS[i]), tr.Jobs[i] + f*(tr.Jobs[i+1]-tr.Jobs[i])
}

// At returns the rates at t, interpolated as the simulator reads them, in
// any order of t (a load generator asks from several goroutines): the
// first row's before it, the last row's after it.
func (tr *Trace) At(t float64) (rps, jobs float64) {
	i := sort.SearchFloat64s(tr.T, t) // first row at or after t
	switch {
	case i == 0:
		return tr.RPS[0], tr.Jobs[0]
	case i >= len(tr.T):
		n := len(tr.T) - 1
		return tr.RPS[n], tr.Jobs[n]
	}
	f := (t - tr.T[i-1]) / (tr.T[i] - tr.T[i-1])
	return tr.RPS[i-1] + f*(tr.RPS[i]-tr.RPS[i-1]), tr.Jobs[i-1] + f*(tr.Jobs[i]-tr.Jobs[i-1])
}
