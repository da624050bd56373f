package lint

import (
	"fmt"
	"math"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// direction is one side of an HPA's behavior with upstream's defaults
// applied (pkg/apis/autoscaling/v2/defaults.go).
type direction struct {
	up       bool
	field    string // spec.behavior.scaleUp
	rules    autoscalingv2.HPAScalingRules
	explicit bool // the manifest sets this direction's policies
}

func (d direction) name() string {
	if d.up {
		return "scale-up"
	}
	return "scale-down"
}

// directions returns scaleUp and scaleDown with defaults filled in.
func directions(h *autoscalingv2.HorizontalPodAutoscaler) [2]direction {
	var up, down *autoscalingv2.HPAScalingRules
	if b := h.Spec.Behavior; b != nil {
		up, down = b.ScaleUp, b.ScaleDown
	}
	mk := func(isUp bool, r *autoscalingv2.HPAScalingRules) direction {
		d := direction{up: isUp, field: "spec.behavior.scaleDown"}
		if isUp {
			d.field = "spec.behavior.scaleUp"
		}
		if r != nil {
			d.rules = *r.DeepCopy()
			d.explicit = len(r.Policies) > 0
		}
		sel := autoscalingv2.MaxChangePolicySelect
		if d.rules.SelectPolicy == nil {
			d.rules.SelectPolicy = &sel
		}
		if isUp {
			if d.rules.StabilizationWindowSeconds == nil {
				zero := int32(0)
				d.rules.StabilizationWindowSeconds = &zero
			}
			if len(d.rules.Policies) == 0 {
				d.rules.Policies = []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
					{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
				}
			}
		} else {
			if d.rules.StabilizationWindowSeconds == nil {
				w := int32(300)
				d.rules.StabilizationWindowSeconds = &w
			}
			if len(d.rules.Policies) == 0 {
				d.rules.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
			}
		}
		return d
	}
	return [2]direction{mk(true, up), mk(false, down)}
}

// policyLimit is the replica count a policy allows from base replicas at
// the start of its period, with upstream's rounding
// (pkg/controller/podautoscaler/horizontal.go, calculateScale{Up,Down}LimitWithBehaviors).
func policyLimit(up bool, p autoscalingv2.HPAScalingPolicy, base int32) int32 {
	switch {
	case up && p.Type == autoscalingv2.PodsScalingPolicy:
		return base + p.Value
	case up:
		return int32(math.Ceil(float64(base) * (1 + float64(p.Value)/100)))
	case p.Type == autoscalingv2.PodsScalingPolicy:
		return base - p.Value
	default:
		return int32(float64(base) * (1 - float64(p.Value)/100))
	}
}

// change is how many pods a limit lets the HPA add or remove from base.
func change(up bool, limit, base int32) int32 {
	if up {
		return limit - base
	}
	return base - limit
}

func describePolicy(p autoscalingv2.HPAScalingPolicy) string {
	if p.Type == autoscalingv2.PercentScalingPolicy {
		return fmt.Sprintf("Percent %d/%ds", p.Value, p.PeriodSeconds)
	}
	return fmt.Sprintf("Pods %d/%ds", p.Value, p.PeriodSeconds)
}

// deadPolicies finds the policies of d that never decide the limit at any
// base replica count in [lo, hi]. Under Max the HPA takes the policy allowing
// the biggest change, under Min the smallest; a policy that ties with the
// chosen one at some count is alive. A policy is compared only with
// policies whose period makes the comparison exact whatever happened in
// between: under Max with one of equal or shorter period, under Min with
// one of equal or longer period (a longer period starts from fewer
// replicas when scaling up, more when scaling down). It returns, per dead
// policy, the policy that beats it at lo.
func deadPolicies(d direction, lo, hi int32) map[int]int {
	ps := d.rules.Policies
	sel := *d.rules.SelectPolicy
	if len(ps) < 2 || sel == autoscalingv2.DisabledPolicySelect || lo > hi || hi-lo > 100_000 {
		return nil
	}
	dead := map[int]int{}
	for i, p := range ps {
		beaten, witness := true, -1
		for b := lo; b <= hi && beaten; b++ {
			ci := change(d.up, policyLimit(d.up, p, b), b)
			beatenHere := false
			for j, q := range ps {
				if j == i {
					continue
				}
				cj := change(d.up, policyLimit(d.up, q, b), b)
				if sel == autoscalingv2.MaxChangePolicySelect && q.PeriodSeconds <= p.PeriodSeconds && cj > ci ||
					sel == autoscalingv2.MinChangePolicySelect && q.PeriodSeconds >= p.PeriodSeconds && cj < ci {
					beatenHere = true
					if witness < 0 {
						witness = j
					}
					break
				}
			}
			beaten = beatenHere
		}
		if beaten {
			dead[i] = witness
		}
	}
	return dead
}

func checkDeadPolicy(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		lo, hi := minReplicas(h), h.Spec.MaxReplicas
		for _, d := range directions(h) {
			if !d.explicit {
				continue
			}
			dead := deadPolicies(d, lo, hi)
			for i := range d.rules.Policies {
				j, ok := dead[i]
				if !ok {
					continue
				}
				p, q := d.rules.Policies[i], d.rules.Policies[j]
				sel := *d.rules.SelectPolicy
				verb, sev, fix := "allows more", Error, ""
				if sel == autoscalingv2.MinChangePolicySelect {
					verb, sev = "allows less", Warning
					fix = fmt.Sprintf("remove %s (it never applies between %d and %d replicas), or change the values so each policy decides somewhere", describePolicy(p), lo, hi)
				} else {
					fix = fmt.Sprintf("if %s is meant as a cap, set %s.selectPolicy: Min (the HPA then takes the smallest change); otherwise remove it", describePolicy(p), d.field)
				}
				msg := fmt.Sprintf("%s policy %s never decides under selectPolicy %s: at every count from %d to %d replicas %s %s (at %d: %d→%d against %d→%d)",
					d.name(), describePolicy(p), sel, lo, hi, describePolicy(q), verb,
					lo, lo, policyLimit(d.up, q, lo), lo, policyLimit(d.up, p, lo))
				f := c.at(h, fmt.Sprintf("%s.policies[%d]", d.field, i), msg, fix)
				f.Severity = sev
				out = append(out, f)
			}
		}
	}
	return out
}

func checkWindowPeriod(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		d := directions(h)[1]
		if h.Spec.Behavior == nil || h.Spec.Behavior.ScaleDown == nil {
			continue
		}
		w := *d.rules.StabilizationWindowSeconds
		for i, p := range d.rules.Policies {
			if w < p.PeriodSeconds {
				out = append(out, c.at(h, fmt.Sprintf("%s.stabilizationWindowSeconds", d.field),
					fmt.Sprintf("scale-down stabilization window %ds is shorter than policy %s's period: a dip shorter than the period already removes pods, and the policy's pace is spent on noise", w, describePolicy(d.rules.Policies[i])),
					fmt.Sprintf("set %s.stabilizationWindowSeconds to at least %d", d.field, p.PeriodSeconds)))
				break
			}
		}
	}
	return out
}

func checkWindowGrace(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		t, _ := c.Target(h.Namespace, h.Spec.ScaleTargetRef)
		if t == nil || t.Template == nil {
			continue
		}
		grace := int64(30)
		if g := t.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		d := directions(h)[1]
		if w := int64(*d.rules.StabilizationWindowSeconds); w < grace {
			out = append(out, c.at(h, d.field+".stabilizationWindowSeconds",
				fmt.Sprintf("scale-down window %ds is shorter than %s's terminationGracePeriodSeconds %ds: the HPA removes pods again before the last ones finished shutting down, and load from their drained work lands on fewer pods", w, t.Ref(), grace),
				fmt.Sprintf("set %s.stabilizationWindowSeconds to at least %d", d.field, grace)))
		}
	}
	return out
}
