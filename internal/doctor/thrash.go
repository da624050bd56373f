package doctor

import (
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// thrashingChanges is the number of direction changes in an hour at which
// doctor warns, as the VoiceAssistHPAScalingThrashing alert does.
const thrashingChanges = 4

func checkThrashing(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) []Finding {
	t := s.Targets[h.Name]
	if t == nil || t.Err != nil {
		return nil
	}
	var recent []Rescale
	for _, r := range s.rescales(h, t) {
		if s.Now.Sub(r.Time) <= time.Hour {
			recent = append(recent, r)
		}
	}
	if len(recent) < 2 {
		return nil
	}
	ups, downs, changes := 0, 0, 0
	last := 0
	var ev []string
	for _, r := range recent {
		dir := 0
		switch {
		case r.From < 0:
		case r.To > r.From:
			dir, ups = 1, ups+1
		case r.To < r.From:
			dir, downs = -1, downs+1
		}
		if dir != 0 && last != 0 && dir != last {
			changes++
		}
		if dir != 0 {
			last = dir
		}
		from := "?"
		if r.From >= 0 {
			from = fmt.Sprint(r.From)
		}
		line := fmt.Sprintf("%s %s → %d", r.Time.UTC().Format("15:04:05"), from, r.To)
		if r.Count > 1 {
			line += fmt.Sprintf(" (this size ×%d in the Events)", r.Count)
		}
		ev = append(ev, line)
	}
	f := Finding{Check: CheckThrashing, Object: hpaRef(s, h), Evidence: ev,
		Confirm: []string{
			fmt.Sprintf("kubectl get events -n %s --field-selector involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=%s,reason=SuccessfulRescale --sort-by=.lastTimestamp", s.Namespace, h.Name),
			describeHPA(s, h),
		}}
	f.Message = fmt.Sprintf("%d rescale(s) in the last hour: %d up, %d down, %d direction change(s) (Events of the same size are aggregated: a lower bound)", len(recent), ups, downs, changes)
	if changes >= thrashingChanges {
		f.Severity = Warning
		f.Message = h.Name + " is thrashing: " + f.Message
		f.Fix = "lengthen the scale-down stabilization window in the overlay, or move the target away from the usual load; check with vactl simulate --env <env> --scenario diurnal (runbook VoiceAssistHPAScalingThrashing)"
	} else if changes > 0 {
		f.Severity = Info
	} else {
		return nil // scaling one way only is not thrashing
	}
	return []Finding{f}
}
