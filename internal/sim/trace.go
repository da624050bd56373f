package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Trace is a recorded load: rows of (time s, req/s, jobs/s). Between rows the
// rates are interpolated linearly; after the last row it holds.
type Trace struct {
	Name string
	T    []float64
	RPS  []float64
	Jobs []float64

	cursor int
}

// LoadTrace reads a CSV trace file: three columns time,req/s,jobs/s; an
// optional header row (non-numeric first field); '#' starts a comment line.
// Times start at 0 or later and strictly increase. Errors name the file and line.
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

// ParseTrace reads a trace from r; name is used in errors.
func ParseTrace(r io.Reader, name string) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tr := &Trace{Name: name}
	for row := 0; ; row++ {
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
		if row == 0 && len(rec) > 0 {
			if _, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64); err != nil {
				continue // header
			}
		}
		if len(rec) != 3 {
			return nil, fmt.Errorf("%s:%d: want 3 fields (time,req/s,jobs/s), got %d", name, line, len(rec))
		}
		var v [3]float64
		for i, col := range []string{"time", "req/s", "jobs/s"} {
			x, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
			if err != nil || x < 0 || x != x {
				return nil, fmt.Errorf("%s:%d: %s %q: want a number >= 0", name, line, col, rec[i])
			}
			v[i] = x
		}
		if n := len(tr.T); n > 0 && v[0] <= tr.T[n-1] {
			return nil, fmt.Errorf("%s:%d: time %v is not after the previous row's %v", name, line, v[0], tr.T[n-1])
		}
		tr.T = append(tr.T, v[0])
		tr.RPS = append(tr.RPS, v[1])
		tr.Jobs = append(tr.Jobs, v[2])
	}
	if len(tr.T) == 0 {
		return nil, fmt.Errorf("%s: no rows (want time,req/s,jobs/s)", name)
	}
	return tr, nil
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
