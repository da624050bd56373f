package tune

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// Kind says what a knob is, for the explanation: the spec's Tuning
// Guidelines name these levers.
type Kind string

const (
	KindTarget       Kind = "target"
	KindMinReplicas  Kind = "minReplicas"
	KindMaxReplicas  Kind = "maxReplicas"
	KindUpWindow     Kind = "scaleUp.stabilizationWindowSeconds"
	KindUpValue      Kind = "scaleUp policy value"
	KindUpPeriod     Kind = "scaleUp policy periodSeconds"
	KindDownWindow   Kind = "scaleDown.stabilizationWindowSeconds"
	KindDownValue    Kind = "scaleDown policy value"
	KindDownPeriod   Kind = "scaleDown policy periodSeconds"
	maxWindowSeconds      = 3600 // the API's bound on stabilizationWindowSeconds
	maxPeriodSeconds      = 1800 // and on a policy's periodSeconds
)

// Knob is one HPA setting the search may change.
type Knob struct {
	// Deployment is the simulator's name of the HPA's target
	// (voiceassist-server or voiceassist-worker); HPA the object's name.
	Deployment string `json:"deployment"`
	HPA        string `json:"hpa"`
	Kind       Kind   `json:"kind"`
	// Field is the HPA's field as kubectl explain names it; Path is the
	// JSON pointer the patch sets.
	Field string `json:"field"`
	Path  string `json:"path"`
	// Current is the rendered value; Lo and Hi the searched range. A knob
	// with Lo == Hi is fixed (a 5 % step of minReplicas 3 is no step).
	Current float64 `json:"current"`
	Lo      float64 `json:"lo"`
	Hi      float64 `json:"hi"`
	// Quantity: the value is a resource.Quantity (an AverageValue or Value
	// target), kept to the milli-unit; else a whole number.
	Quantity bool `json:"quantity,omitempty"`
	// Unit is how the value reads ("%", "s", "pods", or the metric's).
	Unit string `json:"unit,omitempty"`

	// text is a quantity's value as the manifest writes it, for the
	// patch's test operation.
	text string
	hpa  int // index in the Set's HPAs
	set  func(h *autoscalingv2.HorizontalPodAutoscaler, v float64)
}

// Free says the search can move the knob.
func (k *Knob) Free() bool { return k.Hi > k.Lo }

// round brings v into the knob's range and granularity.
func (k *Knob) round(v float64) float64 {
	v = math.Max(k.Lo, math.Min(k.Hi, v))
	if k.Quantity {
		g := k.grain()
		return math.Max(k.Lo, math.Min(k.Hi, math.Round(v/g)*g))
	}
	return math.Max(k.Lo, math.Min(k.Hi, math.Round(v)))
}

// grain is a quantity's step: two significant digits of the current value
// (a 100 req/s target moves by whole req/s, 0.5 by 0.01), at most 1 and at
// least the milli-unit.
func (k *Knob) grain() float64 {
	if k.Current <= 0 {
		return 0.001
	}
	return math.Min(1, math.Max(0.001, math.Pow(10, math.Floor(math.Log10(k.Current))-1)))
}

// Format writes a value as the manifest would read it.
func (k *Knob) Format(v float64) string {
	if k.Quantity {
		return milliQuantity(v).String()
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + k.Unit
}

func milliQuantity(v float64) *resource.Quantity {
	return resource.NewMilliQuantity(int64(math.Round(v*1000)), resource.DecimalSI)
}

// Space is what the search may change: the knobs of every HPA the
// simulator models, and notes on what it leaves alone.
type Space struct {
	Knobs []Knob `json:"knobs"`
	// MaxStep is --max-step as a fraction (0: none).
	MaxStep float64  `json:"maxStep,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	set     *kube.Set
	quota   quotaFit
}

// NewSpace reads the knobs of set's HPAs. Each knob's range is a wide box
// around the current value (targets ½–1½× for utilization, ½–2× for
// values; windows and periods up to twice the current or the API's bound;
// policy values ⅓–3×; replicas ½–2×), cut to ±maxStep of the current value
// when maxStep > 0. Only fields the HPA sets are searched (a behavior the
// HPA leaves to the defaults is not added).
func NewSpace(set *kube.Set, maxStep float64) (*Space, error) {
	if maxStep < 0 || maxStep >= 1 {
		return nil, fmt.Errorf("max step %v: want a fraction from 0 to below 1", maxStep)
	}
	s := &Space{MaxStep: maxStep, set: set}
	var err error
	if s.quota, err = newQuotaFit(set); err != nil {
		return nil, err
	}
	for i, h := range set.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || (ref.Name != sim.GatewayName && ref.Name != sim.WorkerName) {
			continue // sim.New reports it
		}
		text := ""
		add := func(kind Kind, field, path string, cur, lo, hi float64, quantity bool, unit string, set func(*autoscalingv2.HorizontalPodAutoscaler, float64)) {
			k := Knob{Deployment: ref.Name, HPA: h.Name, Kind: kind, Field: field, Path: path, Current: cur,
				Lo: lo, Hi: hi, Quantity: quantity, Unit: unit, text: text, hpa: i, set: set}
			text = ""
			if maxStep > 0 {
				k.Lo, k.Hi = math.Max(k.Lo, cur*(1-maxStep)), math.Min(k.Hi, cur*(1+maxStep))
			}
			if !quantity {
				k.Lo, k.Hi = math.Ceil(k.Lo-1e-9), math.Floor(k.Hi+1e-9)
			}
			k.Lo, k.Hi = math.Min(k.Lo, cur)+0, math.Max(k.Hi, cur)
			if k.Lo == 0 {
				k.Lo = 0 // not -0 from Ceil
			}
			if !k.Free() && maxStep > 0 {
				s.Notes = append(s.Notes, fmt.Sprintf("%s %s: a %s step from %s moves nothing (whole numbers), kept", h.Name, field, pct(maxStep), k.Format(cur)))
			}
			s.Knobs = append(s.Knobs, k)
		}
		for mi := range h.Spec.Metrics {
			m := &h.Spec.Metrics[mi]
			t := metricTarget(m)
			if t == nil {
				continue
			}
			key := kube.MetricKey(*m)
			base := fmt.Sprintf("spec.metrics[%d].%s.target", mi, strings.ToLower(string(m.Type[:1]))+string(m.Type[1:]))
			ptr := fmt.Sprintf("/spec/metrics/%d/%s/target", mi, jsonName(m.Type))
			switch {
			case t.Type == autoscalingv2.UtilizationMetricType && t.AverageUtilization != nil:
				c := float64(*t.AverageUtilization)
				add(KindTarget, base+".averageUtilization ("+key+")", ptr+"/averageUtilization", c, math.Max(10, c/2), math.Min(100, c*1.5), false, "%",
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) {
						*metricTarget(&h.Spec.Metrics[mi]).AverageUtilization = int32(v)
					})
			case t.Type == autoscalingv2.AverageValueMetricType && t.AverageValue != nil:
				c := t.AverageValue.AsApproximateFloat64()
				text = t.AverageValue.String()
				add(KindTarget, base+".averageValue ("+key+")", ptr+"/averageValue", c, c/2, c*2, true, "",
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) {
						metricTarget(&h.Spec.Metrics[mi]).AverageValue = milliQuantity(v)
					})
			case t.Type == autoscalingv2.ValueMetricType && t.Value != nil:
				c := t.Value.AsApproximateFloat64()
				text = t.Value.String()
				add(KindTarget, base+".value ("+key+")", ptr+"/value", c, c/2, c*2, true, "",
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) {
						metricTarget(&h.Spec.Metrics[mi]).Value = milliQuantity(v)
					})
			}
		}
		if h.Spec.MinReplicas != nil {
			c := float64(*h.Spec.MinReplicas)
			add(KindMinReplicas, "spec.minReplicas", "/spec/minReplicas", c, math.Max(pdbFloor(set, h), c/2), c*2, false, "",
				func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) { *h.Spec.MinReplicas = int32(v) })
		}
		c := float64(h.Spec.MaxReplicas)
		add(KindMaxReplicas, "spec.maxReplicas", "/spec/maxReplicas", c, math.Max(1, c/2), c*2, false, "",
			func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) { h.Spec.MaxReplicas = int32(v) })
		b := h.Spec.Behavior
		if b == nil {
			s.Notes = append(s.Notes, h.Name+": no spec.behavior, so its policies and windows are upstream's defaults and not searched")
			continue
		}
		rules := []struct {
			r                  *autoscalingv2.HPAScalingRules
			name               string
			win, value, period Kind
			up                 bool
		}{
			{b.ScaleUp, "scaleUp", KindUpWindow, KindUpValue, KindUpPeriod, true},
			{b.ScaleDown, "scaleDown", KindDownWindow, KindDownValue, KindDownPeriod, false},
		}
		for _, rl := range rules {
			if rl.r == nil {
				continue
			}
			get := func(h *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HPAScalingRules {
				if rl.up {
					return h.Spec.Behavior.ScaleUp
				}
				return h.Spec.Behavior.ScaleDown
			}
			if w := rl.r.StabilizationWindowSeconds; w != nil {
				c := float64(*w)
				add(rl.win, "spec.behavior."+rl.name+".stabilizationWindowSeconds", "/spec/behavior/"+rl.name+"/stabilizationWindowSeconds",
					c, 0, math.Min(maxWindowSeconds, math.Max(2*c, 300)), false, "s",
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) {
						*get(h).StabilizationWindowSeconds = int32(v)
					})
			}
			for pi, p := range rl.r.Policies {
				field := fmt.Sprintf("spec.behavior.%s.policies[%d]", rl.name, pi)
				ptr := fmt.Sprintf("/spec/behavior/%s/policies/%d", rl.name, pi)
				unit := " pods"
				lo := 1.0
				if p.Type == autoscalingv2.PercentScalingPolicy {
					unit = "%"
				}
				c := float64(p.Value)
				add(rl.value, field+".value ("+string(p.Type)+")", ptr+"/value", c, math.Max(lo, c/3), c*3, false, unit,
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) { get(h).Policies[pi].Value = int32(v) })
				cp := float64(p.PeriodSeconds)
				add(rl.period, field+".periodSeconds", ptr+"/periodSeconds", cp, 15, math.Min(maxPeriodSeconds, 2*cp), false, "s",
					func(h *autoscalingv2.HorizontalPodAutoscaler, v float64) {
						get(h).Policies[pi].PeriodSeconds = int32(v)
					})
			}
		}
	}
	if len(s.Knobs) == 0 {
		return nil, fmt.Errorf("no HPA targets %s or %s: nothing to tune", sim.GatewayName, sim.WorkerName)
	}
	return s, nil
}

func jsonName(t autoscalingv2.MetricSourceType) string {
	switch t {
	case autoscalingv2.ContainerResourceMetricSourceType:
		return "containerResource"
	default:
		return strings.ToLower(string(t))
	}
}

func metricTarget(m *autoscalingv2.MetricSpec) *autoscalingv2.MetricTarget {
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource != nil {
			return &m.Resource.Target
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource != nil {
			return &m.ContainerResource.Target
		}
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods != nil {
			return &m.Pods.Target
		}
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object != nil {
			return &m.Object.Target
		}
	case autoscalingv2.ExternalMetricSourceType:
		if m.External != nil {
			return &m.External.Target
		}
	}
	return nil
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + " %" }

// Setting is one value per knob of a Space, in its order.
type Setting []float64

// Current is the rendered setting.
func (s *Space) Current() Setting {
	v := make(Setting, len(s.Knobs))
	for i := range s.Knobs {
		v[i] = s.Knobs[i].Current
	}
	return v
}

// Apply returns a Set whose HPAs carry the setting (the other objects are
// shared with the Space's Set, read-only).
func (s *Space) Apply(v Setting) *kube.Set {
	out := *s.set
	out.HPAs = make([]*autoscalingv2.HorizontalPodAutoscaler, len(s.set.HPAs))
	for i, h := range s.set.HPAs {
		out.HPAs[i] = h.DeepCopy()
	}
	for i := range s.Knobs {
		k := &s.Knobs[i]
		k.set(out.HPAs[k.hpa], v[i])
	}
	return &out
}

// repair makes a setting valid: every value in its knob's range and
// granularity, minReplicas at most maxReplicas (per HPA), and the maxima
// within the ResourceQuota (maxReplicas lowered, the larger one first).
func (s *Space) repair(v Setting) {
	for i := range s.Knobs {
		v[i] = s.Knobs[i].round(v[i])
	}
	minIdx, maxIdx := map[int]int{}, map[int]int{}
	for i, k := range s.Knobs {
		switch k.Kind {
		case KindMinReplicas:
			minIdx[k.hpa] = i
		case KindMaxReplicas:
			maxIdx[k.hpa] = i
		}
	}
	for h, mx := range maxIdx {
		if mn, ok := minIdx[h]; ok && v[mn] > v[mx] {
			v[mn] = math.Max(s.Knobs[mn].Lo, v[mx])
			v[mx] = math.Max(v[mx], v[mn])
		}
	}
	// vactl lint's behavior-window-period: a scale-down window shorter than
	// a scale-down policy's period spends the policy on noise. Where the
	// current setting keeps the window at least as long, so does every
	// candidate: the periods are cut to the window.
	downWin := map[int]int{}
	for i, k := range s.Knobs {
		if k.Kind == KindDownWindow {
			downWin[k.hpa] = i
		}
	}
	for i, k := range s.Knobs {
		if w, ok := downWin[k.hpa]; ok && k.Kind == KindDownPeriod && s.Knobs[w].Current >= k.Current && v[i] > v[w] {
			v[i] = math.Max(k.Lo, v[w])
			if v[i] > v[w] {
				v[w] = math.Min(s.Knobs[w].Hi, v[i])
			}
		}
	}
	// In HPA order, not the maps' random one: of two maxima with equal
	// room the first is lowered, so a search is repeatable.
	hpas := slices.Sorted(maps.Keys(maxIdx))
	for guard := 0; guard < 1000 && !s.quota.fits(s.maxima(v)); guard++ {
		// lower the maximum with the most room above its own minimum
		best, room := -1, 0.0
		for _, h := range hpas {
			mx := maxIdx[h]
			lo := s.Knobs[mx].Lo
			if mn, ok := minIdx[h]; ok {
				lo = math.Max(lo, v[mn])
			}
			if r := (v[mx] - lo) / v[mx]; r > room {
				best, room = mx, r
			}
		}
		if best < 0 {
			return // the current setting does not fit either; lint says so
		}
		v[best]--
	}
}

// maxima are the setting's maxReplicas by Deployment name.
func (s *Space) maxima(v Setting) map[string]int64 {
	out := map[string]int64{}
	for i, k := range s.Knobs {
		if k.Kind == KindMaxReplicas {
			out[k.Deployment] = int64(v[i])
		}
	}
	return out
}

func isModelled(name string) bool { return name == sim.GatewayName || name == sim.WorkerName }

// pdbFloor is the lowest minReplicas the PodDisruptionBudgets covering the
// HPA's Deployment allow: one more than a whole-number minAvailable, so
// that a pod can still be evicted at the minimum (vactl lint's
// pdb-blocks-eviction rule).
func pdbFloor(set *kube.Set, h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	floor := 1.0
	for _, p := range set.PDBs {
		if p.Namespace != h.Namespace || p.Spec.MinAvailable == nil || p.Spec.MinAvailable.Type != intstr.Int {
			continue
		}
		ws, err := set.PodsMatching(p.Namespace, p.Spec.Selector)
		if err != nil {
			continue
		}
		for _, w := range ws {
			if w.Kind == h.Spec.ScaleTargetRef.Kind && w.Name == h.Spec.ScaleTargetRef.Name {
				floor = math.Max(floor, float64(p.Spec.MinAvailable.IntVal)+1)
			}
		}
	}
	return floor
}
