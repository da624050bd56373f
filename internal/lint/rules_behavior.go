package lint

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

// controller holds the controller flags lint assumes: a default
// kube-controller-manager (5-minute downscale stabilization).
var controller = hpa.DefaultController()

// direction is one side of an HPA's behavior as the controller applies it,
// defaults resolved by internal/hpa (upstream's defaults.go and
// maybeInitScaleDownStabilizationWindow).
type direction struct {
	up       bool
	field    string // spec.behavior.scaleUp
	rules    hpa.ScalingRules
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
	up, down := controller.BehaviorRules(h.Spec.Behavior)
	var upSpec, downSpec *autoscalingv2.HPAScalingRules
	if b := h.Spec.Behavior; b != nil {
		upSpec, downSpec = b.ScaleUp, b.ScaleDown
	}
	return [2]direction{
		{up: true, field: "spec.behavior.scaleUp", rules: up, explicit: upSpec != nil && len(upSpec.Policies) > 0},
		{up: false, field: "spec.behavior.scaleDown", rules: down, explicit: downSpec != nil && len(downSpec.Policies) > 0},
	}
}

// policyLimit is the replica count a policy allows from base replicas at
// the start of its period (internal/hpa, with upstream's rounding).
func policyLimit(up bool, p autoscalingv2.HPAScalingPolicy, base int32) int32 {
	if up {
		return hpa.ScaleUpPolicyLimit(p, base)
	}
	return hpa.ScaleDownPolicyLimit(p, base)
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

// deadPolicies finds the policies of d that never limit the scale at any
// base replica count in [lo, hi]. Under Max the HPA takes the policy allowing
// the biggest change, under Min the smallest; a policy limits the scale at a
// count only where it alone gives the result. Where another policy allows
// the same change (a tie) or a bigger one (Max; a smaller one under Min),
// removing the policy changes nothing there, so a policy that only ever
// ties, as a Pods cap equal to the Percent policy at minReplicas does, is
// dead. Policies are taken from the last: of two that are the same at every
// count, the later one is reported and the earlier one stays alive.
//
// A policy is compared only with policies whose period makes the comparison
// exact whatever happened in between: under Max with one of equal or shorter
// period, under Min with one of equal or longer period (a longer period
// starts from fewer replicas when scaling up, more when scaling down). It
// returns, per dead policy, the policy that covers it at lo.
func deadPolicies(d direction, lo, hi int32) map[int]int {
	ps := d.rules.Policies
	sel := d.rules.SelectPolicy
	if len(ps) < 2 || sel == autoscalingv2.DisabledPolicySelect || lo > hi || hi-lo > 100_000 {
		return nil
	}
	dead := map[int]int{}
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		covered, witness := true, -1
		for b := lo; b <= hi && covered; b++ {
			ci := change(d.up, policyLimit(d.up, p, b), b)
			coveredHere := false
			for j, q := range ps {
				if _, gone := dead[j]; j == i || gone {
					continue
				}
				cj := change(d.up, policyLimit(d.up, q, b), b)
				if sel == autoscalingv2.MaxChangePolicySelect && q.PeriodSeconds <= p.PeriodSeconds && cj >= ci ||
					sel == autoscalingv2.MinChangePolicySelect && q.PeriodSeconds >= p.PeriodSeconds && cj <= ci {
					coveredHere = true
					if witness < 0 {
						witness = j
					}
					break
				}
			}
			covered = coveredHere
		}
		if covered {
			dead[i] = witness
		}
	}
	return dead
}

func checkDeadPolicy(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		lo, hi := hpa.MinReplicas(h), h.Spec.MaxReplicas
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
				sel := d.rules.SelectPolicy
				verb, sev, fix := "allows a change at least as big", Error, ""
				if sel == autoscalingv2.MinChangePolicySelect {
					verb, sev = "allows a change at most as big", Warning
					fix = fmt.Sprintf("remove %s (it never limits anything between %d and %d replicas), or change the values so each policy alone decides somewhere", describePolicy(p), lo, hi)
				} else {
					fix = fmt.Sprintf("if %s is meant as a cap, set %s.selectPolicy: Min (the HPA then takes the smallest change); otherwise remove it", describePolicy(p), d.field)
				}
				ql, pl := policyLimit(d.up, q, lo), policyLimit(d.up, p, lo)
				sample := fmt.Sprintf("at %d: %d→%d against %d→%d", lo, lo, ql, lo, pl)
				if ql == pl {
					sample = fmt.Sprintf("at %d both allow %d→%d", lo, lo, pl)
				}
				msg := fmt.Sprintf("%s policy %s never limits the scale under selectPolicy %s: at every count from %d to %d replicas %s %s (%s), so the HPA's limit is the same without it",
					d.name(), describePolicy(p), sel, lo, hi, describePolicy(q), verb, sample)
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
		w := d.rules.WindowSeconds
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
		t, ok, _ := c.Set.Target(h.Namespace, h.Spec.ScaleTargetRef)
		if !ok || t.Template == nil {
			continue
		}
		grace := int64(30)
		if g := t.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		d := directions(h)[1]
		if w := int64(d.rules.WindowSeconds); w < grace {
			out = append(out, c.at(h, d.field+".stabilizationWindowSeconds",
				fmt.Sprintf("scale-down window %ds is shorter than %s's terminationGracePeriodSeconds %ds: the HPA removes pods again before the last ones finished shutting down, and load from their drained work lands on fewer pods", w, t.Ref(), grace),
				fmt.Sprintf("set %s.stabilizationWindowSeconds to at least %d", d.field, grace)))
		}
	}
	return out
}
