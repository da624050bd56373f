package tune

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// ParseHoldout reads --holdout: a fraction of the history (0.25: its last
// quarter) or a duration (2d, 36h) held out at its end. It returns the
// split time in seconds from the start; end is the history's length.
func ParseHoldout(s string, end float64) (float64, error) {
	s = strings.TrimSpace(s)
	var held float64
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f > 0 && f < 1) {
			return 0, fmt.Errorf("--holdout %q: a fraction must be between 0 and 1 (exclusive), e.g. 0.25", s)
		}
		held = f * end
	} else {
		d, err := parseDays(s)
		if err != nil {
			return 0, fmt.Errorf("--holdout %q: want a fraction like 0.25 or a duration like 2d or 36h", s)
		}
		held = d
	}
	split := math.Round(end - held)
	if split < 3600 || end-split < 3600 {
		return 0, fmt.Errorf("--holdout %q: leaves %s to tune on and %s to test on of the %s history; each needs at least 1h",
			s, secs(split), secs(end-split), secs(end))
	}
	return split, nil
}

func parseDays(s string) (float64, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad days")
		}
		return n * 86400, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return d.Seconds(), nil
}

func secs(s float64) string { return (time.Duration(s) * time.Second).String() }

// SplitTrace cuts a trace at t (seconds): the rows before it and, rebased
// to start at 0, the rows from it, each with the rate interpolated at t as
// its edge row, so that both halves replay exactly what the whole does.
func SplitTrace(tr *sim.Trace, t float64) (head, tail *sim.Trace) {
	r, j := tr.At(t)
	head = &sim.Trace{Name: fmt.Sprintf("%s[0,%s)", tr.Name, secs(t))}
	tail = &sim.Trace{Name: fmt.Sprintf("%s[%s,end]", tr.Name, secs(t))}
	for i, ti := range tr.T {
		if ti < t {
			head.T, head.RPS, head.Jobs = append(head.T, ti), append(head.RPS, tr.RPS[i]), append(head.Jobs, tr.Jobs[i])
		}
	}
	head.T, head.RPS, head.Jobs = append(head.T, t), append(head.RPS, r), append(head.Jobs, j)
	tail.T, tail.RPS, tail.Jobs = []float64{0}, []float64{r}, []float64{j}
	for i, ti := range tr.T {
		if ti > t {
			tail.T, tail.RPS, tail.Jobs = append(tail.T, ti-t), append(tail.RPS, tr.RPS[i]), append(tail.Jobs, tr.Jobs[i])
		}
	}
	return head, tail
}
