package doctor

import (
	"fmt"
	"math"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

func longestPeriod(r hpa.ScalingRules) int32 {
	var p int32
	for _, x := range r.Policies {
		p = max(p, x.PeriodSeconds)
	}
	return p
}

// changeWithin sums the rescales of one direction newer than now-period
// (upstream's getReplicasChangePerPeriod).
func changeWithin(history []Rescale, up bool, period int32, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(period) * time.Second)
	var n int32
	for _, r := range history {
		if r.From < 0 || !r.Time.After(cutoff) {
			continue
		}
		if up && r.To > r.From {
			n += r.To - r.From
		} else if !up && r.To < r.From {
			n += r.From - r.To
		}
	}
	return n
}

// policyText is "+2 pods per 30 s", "+100 % per 30 s", "-1 pod per 300 s".
func policyText(p autoscalingv2.HPAScalingPolicy, up bool) string {
	sign, unit := "+", "pods"
	if !up {
		sign = "-"
	}
	switch p.Type {
	case autoscalingv2.PodsScalingPolicy:
		if p.Value == 1 {
			unit = "pod"
		}
		return fmt.Sprintf("%s%d %s per %d s", sign, p.Value, unit, p.PeriodSeconds)
	case autoscalingv2.PercentScalingPolicy:
		return fmt.Sprintf("%s%d %% per %d s", sign, p.Value, p.PeriodSeconds)
	}
	return fmt.Sprintf("%s %d per %d s", p.Type, p.Value, p.PeriodSeconds)
}

// describeLimits fills e.Limit, e.Window and e.NextStep: what the policies
// of the direction the recommendation moves allow, computed as upstream's
// calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors
// do, per policy.
func describeLimits(c *hpa.Controller, h *autoscalingv2.HorizontalPodAutoscaler, e *Explanation, history []Rescale, now time.Time) {
	if e.Proposed <= 0 {
		return
	}
	cur := e.SpecReplicas
	up, down := c.BehaviorRules(h.Spec.Behavior)
	// The stabilization window.
	switch {
	case e.Stabilized != e.Proposed && e.Proposed > cur:
		e.Window = &WindowHold{Direction: "up", Seconds: up.WindowSeconds, From: e.Proposed, To: e.Stabilized}
	case e.Stabilized != e.Proposed:
		e.Window = &WindowHold{Direction: "down", Seconds: down.WindowSeconds, From: e.Proposed, To: e.Stabilized}
		// The window max falls below the current count when the last
		// recommendation at or above it ages out.
		var last time.Time
		for _, r := range history {
			if r.To >= cur && r.Time.After(last) {
				last = r.Time
			}
		}
		if !last.IsZero() {
			t := last.Add(time.Duration(down.WindowSeconds) * time.Second)
			e.NextStep = &t
		}
	}
	if h.Spec.Behavior == nil {
		if e.Stabilized > cur {
			allowed := hpa.CalculateScaleUpLimit(cur)
			e.Limit = &RateLimit{Direction: "up", SelectPolicy: "none (no behavior)", Allowed: allowed,
				Policies: []PolicyLimit{{Policy: fmt.Sprintf("max(%g × current, %g)", hpa.ScaleUpLimitFactor, hpa.ScaleUpLimitMinimum), PeriodStart: cur, Allows: allowed, Decides: true}},
				Binding:  e.Reason == hpa.ReasonScaleUpLimit}
		}
		return
	}
	var rules hpa.ScalingRules
	isUp := e.Stabilized > cur
	switch {
	case isUp:
		rules = up
	case e.Stabilized < cur:
		rules = down
	default:
		return
	}
	l := &RateLimit{Direction: "down", SelectPolicy: string(rules.SelectPolicy)}
	if isUp {
		l.Direction = "up"
	}
	if rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		l.Allowed, l.Binding = cur, true
		e.Limit = l
		return
	}
	minSel := rules.SelectPolicy == autoscalingv2.MinChangePolicySelect
	result := int32(math.MinInt32)
	if isUp == minSel {
		result = math.MaxInt32
	}
	for _, p := range rules.Policies {
		added := changeWithin(history, true, p.PeriodSeconds, now)
		deleted := changeWithin(history, false, p.PeriodSeconds, now)
		start := cur - added + deleted
		var allows int32
		if isUp {
			allows = hpa.ScaleUpPolicyLimit(p, start)
			if minSel {
				result = min(result, allows)
			} else {
				result = max(result, allows)
			}
		} else {
			allows = hpa.ScaleDownPolicyLimit(p, start)
			if minSel {
				result = max(result, allows)
			} else {
				result = min(result, allows)
			}
		}
		l.Policies = append(l.Policies, PolicyLimit{Policy: policyText(p, isUp), PeriodStart: start, Allows: allows})
	}
	if isUp {
		result = max(result, cur) // no further scale-up until events age out
	} else {
		result = min(result, cur)
	}
	l.Allowed = result
	for i := range l.Policies {
		p := &l.Policies[i]
		// Every policy at the selected limit decides (ties included); one
		// past the current count is held at it.
		if p.Allows == result || (isUp && p.Allows < cur && result == cur) || (!isUp && p.Allows > cur && result == cur) {
			p.Decides = true
		}
	}
	l.Binding = e.Reason == hpa.ReasonScaleUpLimit || e.Reason == hpa.ReasonScaleDownLimit
	e.Limit = l
	if l.Binding && e.NextStep == nil {
		// The limit rises when the oldest change within a deciding
		// policy's period leaves it.
		var next time.Time
		for i, p := range rules.Policies {
			if !l.Policies[i].Decides {
				continue
			}
			cutoff := now.Add(-time.Duration(p.PeriodSeconds) * time.Second)
			for _, r := range history {
				if r.From < 0 || !r.Time.After(cutoff) || (isUp != (r.To > r.From)) {
					continue
				}
				t := r.Time.Add(time.Duration(p.PeriodSeconds) * time.Second)
				if next.IsZero() || t.Before(next) {
					next = t
				}
			}
		}
		if !next.IsZero() {
			e.NextStep = &next
		}
	}
}

// summarize says what the HPA does next, and why, in one sentence.
func summarize(e *Explanation) string {
	cur := e.SpecReplicas
	var b strings.Builder
	switch {
	case e.Proposed == -1:
		var bad []string
		best := int32(-1)
		for _, m := range e.Metrics {
			if m.Error != "" {
				bad = append(bad, m.Metric)
			} else {
				best = max(best, m.Proposed)
			}
		}
		if len(bad) == len(e.Metrics) {
			fmt.Fprintf(&b, "stays at %d: no metric can be computed (%s)", cur, strings.Join(bad, ", "))
		} else {
			fmt.Fprintf(&b, "stays at %d: the valid metrics propose %d, fewer than now, but %s invalid, and upstream does not scale down while a metric is invalid", cur, best, isAre(bad))
		}
		return b.String()
	case e.Reason == hpa.ReasonScalingDisabled:
		return fmt.Sprintf("does nothing: the target has 0 replicas (%s)", e.Message)
	}
	if e.Rescale {
		fmt.Fprintf(&b, "scales %d → %d at its next sync", cur, e.Desired)
	} else {
		fmt.Fprintf(&b, "stays at %d", cur)
	}
	if e.ProposedBy != "" {
		fmt.Fprintf(&b, ": %s proposes %d", e.ProposedBy, e.Proposed)
	}
	if w := e.Window; w != nil {
		fmt.Fprintf(&b, "; the %d s scale-%s stabilization window holds it at %d", w.Seconds, w.Direction, w.To)
	}
	if l := e.Limit; l != nil && l.Binding {
		for _, p := range l.Policies {
			if p.Decides {
				fmt.Fprintf(&b, "; %s allows %d → %d", p.Policy, p.PeriodStart, p.Allows)
			}
		}
		if len(l.Policies) > 1 {
			fmt.Fprintf(&b, " (selectPolicy %s)", l.SelectPolicy)
		}
	}
	switch e.Reason {
	case hpa.ReasonTooManyReplicas:
		fmt.Fprintf(&b, "; capped at maxReplicas %d", e.MaxReplicas)
	case hpa.ReasonTooFewReplicas:
		fmt.Fprintf(&b, "; held at minReplicas %d", e.MinReplicas)
	}
	if e.NextStep != nil {
		fmt.Fprintf(&b, "; the next step is allowed at %s", e.NextStep.UTC().Format("15:04:05"))
	}
	invalid := 0
	for _, m := range e.Metrics {
		if m.Error != "" {
			invalid++
		}
	}
	if invalid > 0 {
		fmt.Fprintf(&b, "; %d of %d metrics invalid: no scale-down until they are back", invalid, len(e.Metrics))
	}
	return b.String()
}

func isAre(names []string) string {
	if len(names) == 1 {
		return names[0] + " is"
	}
	return strings.Join(names, ", ") + " are"
}

// disagreement compares the replay with the controller's last sync. Right
// after a rescale the scale's spec.replicas is the last desired count, so
// a replay that stays there agrees; any other difference means the inputs
// moved since the last sync, a metric is stale or partial, or the
// controller's memory (recommendations, scale events) differs from the
// reconstruction.
func disagreement(h *autoscalingv2.HorizontalPodAutoscaler, e *Explanation) string {
	if e.Err != "" || h.Status.DesiredReplicas == 0 && h.Status.LastScaleTime == nil && len(h.Status.Conditions) == 0 {
		return ""
	}
	if e.Desired == h.Status.DesiredReplicas {
		return ""
	}
	var moved []string
	for _, m := range e.Metrics {
		if m.Status != "<unknown>" && strings.HasPrefix(m.Now, "<unknown>") {
			moved = append(moved, m.Metric+" had "+m.Status+" at the last sync, is <unknown> now")
		} else if m.Status == "<unknown>" && !strings.HasPrefix(m.Now, "<unknown>") {
			moved = append(moved, m.Metric+" was <unknown> at the last sync, is "+m.Now+" now")
		} else if m.Status != m.Now && !strings.HasPrefix(m.Now, m.Status) {
			moved = append(moved, m.Metric+" "+m.Status+" → "+m.Now)
		}
	}
	s := fmt.Sprintf("the replay sets %d, the controller's status.desiredReplicas is %d", e.Desired, h.Status.DesiredReplicas)
	if len(moved) > 0 {
		s += "; since its last sync: " + strings.Join(moved, "; ")
	} else {
		s += "; the metrics read the same, so the controller's memory (recommendations, scale events) differs from the replay's"
	}
	return s
}
