package tune

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Options configure a search.
type Options struct {
	Space *Space
	// Base is the simulation every candidate runs: parameters, scenario
	// (a trace), duration, adapter values. Its Set and Seed are replaced.
	Base sim.Config
	// Seeds are the simulator seeds every candidate runs under; the
	// objectives are the means over them.
	Seeds []uint64
	// Candidates is how many settings are simulated (each under every
	// seed), the current one included: half a Latin-hypercube sample, the
	// rest in refinement rounds.
	Candidates int
	// SearchSeed seeds the sampler: the same seed, the same search.
	SearchSeed uint64
	// Workers is the number of simulations run at once (0: GOMAXPROCS).
	Workers int
}

// refineRounds is the number of local-refinement rounds after the sample.
const refineRounds = 3

// Deployments in the order of sim.Result.Deployments.
var deployments = [2]string{sim.GatewayName, sim.WorkerName}

// Evaluated is one simulated setting: per deployment, its summary under
// each seed (the gateway's and the worker's figures are independent of
// each other's HPA, so one run evaluates both parts).
type Evaluated struct {
	Setting Setting `json:"setting"`
	// Origin says how the search found it: current, sample, refine N.
	Origin string `json:"origin"`
	// Summaries[d][k] is deployment d's summary under Seeds[k].
	Summaries [2][]sim.Summary `json:"-"`
	// SLOSeconds and PodHours are the means over the seeds, per deployment.
	SLOSeconds [2]float64 `json:"sloViolationSeconds"`
	PodHours   [2]float64 `json:"podHours"`
	// QuotaHeld: a quota held pods back in some run, so this setting's
	// parts are only combined with each other (the deployments compete for
	// the quota and are no longer independent).
	QuotaHeld bool `json:"quotaHeld,omitempty"`
}

// Point is one whole configuration: the gateway part of one evaluated
// setting with the worker part of another (the same one for the current).
type Point struct {
	Gateway int `json:"gatewayFrom"`
	Worker  int `json:"workerFrom"`
	// The objectives, means over the seeds, with their 95 % intervals.
	SLOSeconds sim.FigureStats `json:"sloViolationSeconds"`
	PodHours   sim.FigureStats `json:"podHours"`
}

// Search is a finished search.
type Search struct {
	Space     *Space      `json:"space"`
	Seeds     []uint64    `json:"seeds"`
	Evaluated []Evaluated `json:"evaluated"`
	// Current is the rendered configuration (Evaluated[0] for both parts).
	Current Point `json:"current"`
	// Front is the Pareto front over whole configurations, by rising
	// SLO-violating seconds (and so falling pod-hours).
	Front []Point `json:"front"`
	// Runs is the number of simulations done.
	Runs int `json:"runs"`
}

// Run searches. It fails when a simulation does (the manifests have no
// model) or ctx ends.
func Run(ctx context.Context, o Options) (*Search, error) {
	if o.Space == nil || len(o.Seeds) == 0 || o.Candidates < 1 {
		return nil, fmt.Errorf("tune: want a space, at least one seed and one candidate")
	}
	s := &Search{Space: o.Space, Seeds: o.Seeds}
	rng := rand.New(rand.NewPCG(o.SearchSeed, 0x7475_6e65))
	seen := map[string]bool{}
	var batch []Evaluated
	add := func(v Setting, origin string) bool {
		o.Space.repair(v)
		k := v.key()
		if seen[k] {
			return false
		}
		seen[k] = true
		batch = append(batch, Evaluated{Setting: v, Origin: origin})
		return true
	}
	// Every setting runs on the same arrivals under a given seed: draw them
	// once per seed and share them (read-only) between the runs.
	arr, err := sim.NewArrivals(o.Base, o.Seeds)
	if err != nil {
		return nil, err
	}
	add(o.Space.Current(), "current")
	nSample := max(0, (o.Candidates+1)/2-1)
	for _, v := range latinHypercube(o.Space, nSample, rng) {
		add(v, "sample")
	}
	if err := s.evaluate(ctx, o, arr, batch); err != nil {
		return nil, err
	}
	left := o.Candidates - len(s.Evaluated)
	for r := 1; r <= refineRounds && left > 0; r++ {
		n := left / (refineRounds - r + 1)
		batch = batch[:0]
		parents := s.parents()
		sigma := 0.15 * math.Pow(0.5, float64(r-1))
		for tries := 0; len(batch) < n && tries < 50*n; tries++ {
			p := parents[len(batch)%len(parents)]
			v := append(Setting(nil), s.Evaluated[p[0]].Setting...)
			for i, k := range o.Space.Knobs {
				if k.Deployment == sim.WorkerName {
					v[i] = s.Evaluated[p[1]].Setting[i]
				}
				if k.Free() && rng.Float64() < 0.5 {
					v[i] += rng.NormFloat64() * sigma * (k.Hi - k.Lo)
				}
			}
			add(v, "refine "+strconv.Itoa(r))
		}
		if err := s.evaluate(ctx, o, arr, batch); err != nil {
			return nil, err
		}
		left = o.Candidates - len(s.Evaluated)
	}
	s.Current = s.point(0, 0)
	s.Front = s.front()
	return s, nil
}

func (v Setting) key() string {
	var b strings.Builder
	for _, x := range v {
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		b.WriteByte(',')
	}
	return b.String()
}

// latinHypercube draws n settings: each free knob's range cut into n equal
// strata, one draw in each, the strata shuffled independently per knob.
func latinHypercube(sp *Space, n int, rng *rand.Rand) []Setting {
	out := make([]Setting, n)
	for i := range out {
		out[i] = sp.Current()
	}
	for ki, k := range sp.Knobs {
		if !k.Free() {
			continue
		}
		perm := rng.Perm(n)
		for i := range out {
			out[i][ki] = k.Lo + (float64(perm[i])+rng.Float64())/float64(n)*(k.Hi-k.Lo)
		}
	}
	return out
}

// evaluate simulates the batch under every seed on a pool of workers, one
// job per setting and seed, and appends it to s.Evaluated. arr[k] are the
// arrivals under Seeds[k].
func (s *Search) evaluate(ctx context.Context, o Options, arr []*sim.Arrivals, batch []Evaluated) error {
	for i := range batch {
		for d := range batch[i].Summaries {
			batch[i].Summaries[d] = make([]sim.Summary, len(o.Seeds))
		}
	}
	err := pool(ctx, o.Workers, len(batch), len(o.Seeds), func(e, k int) error {
		cfg := o.Base
		cfg.Set = o.Space.Apply(batch[e].Setting)
		cfg.Seed, cfg.Arrivals = o.Seeds[k], arr[k]
		cfg.SampleSeconds = summaryOnly(cfg)
		r, err := sim.Simulate(cfg)
		if err != nil {
			return err
		}
		for d := range r.Deployments {
			batch[e].Summaries[d][k] = r.Deployments[d].Summary
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.Runs += len(batch) * len(o.Seeds)
	for i := range batch {
		e := &batch[i]
		for d := range e.Summaries {
			for _, sm := range e.Summaries[d] {
				e.SLOSeconds[d] += float64(sm.SLOSeconds) / float64(len(o.Seeds))
				e.PodHours[d] += sm.PodHours / float64(len(o.Seeds))
				e.QuotaHeld = e.QuotaHeld || sm.QuotaHeldSeconds > 0
			}
		}
	}
	s.Evaluated = append(s.Evaluated, batch...)
	return nil
}

// summaryOnly is the timeline resolution of a search run: one sample an
// hour at least, as the search reads only the summaries (which the
// simulator counts every second, whatever the resolution).
func summaryOnly(cfg sim.Config) int64 { return max(3600, cfg.SampleSeconds) }

// point combines the gateway part of Evaluated[g] with the worker part of
// Evaluated[w], seed by seed.
func (s *Search) point(g, w int) Point {
	n := len(s.Seeds)
	slo, ph := make([]float64, n), make([]float64, n)
	for k := 0; k < n; k++ {
		gs, ws := s.Evaluated[g].Summaries[0][k], s.Evaluated[w].Summaries[1][k]
		slo[k] = float64(gs.SLOSeconds + ws.SLOSeconds)
		ph[k] = gs.PodHours + ws.PodHours
	}
	return Point{Gateway: g, Worker: w, SLOSeconds: describe(slo), PodHours: describe(ph)}
}

// describe is a figure's statistics over the seeds, as sim reports them.
func describe(xs []float64) sim.FigureStats {
	rs := make([]*sim.Result, len(xs))
	for i, x := range xs {
		rs[i] = &sim.Result{Deployments: []sim.DeploymentResult{{Summary: sim.Summary{PodHours: x}}}}
	}
	return sim.Stats(rs).Deployments[0].Figures["podHours"]
}

// deploymentFront is the non-dominated evaluated settings for deployment
// d's own two objectives.
func (s *Search) deploymentFront(d int) []int {
	idx := make([]int, len(s.Evaluated))
	for i := range idx {
		idx[i] = i
	}
	return nonDominated(idx, func(i int) (float64, float64) { return s.Evaluated[i].SLOSeconds[d], s.Evaluated[i].PodHours[d] })
}

// nonDominated keeps the items no other item beats on both objectives (or
// equals on both, earlier), sorted by the first objective.
func nonDominated(items []int, f func(int) (float64, float64)) []int {
	sort.SliceStable(items, func(a, b int) bool {
		xa, ya := f(items[a])
		xb, yb := f(items[b])
		if xa != xb {
			return xa < xb
		}
		return ya < yb
	})
	var out []int
	best := math.Inf(1)
	for _, i := range items {
		if _, y := f(i); y < best {
			out = append(out, i)
			best = y
		}
	}
	return out
}

// parents pairs the gateway front with the worker front, for refinement.
func (s *Search) parents() [][2]int {
	fg, fw := s.deploymentFront(0), s.deploymentFront(1)
	n := max(len(fg), len(fw))
	out := make([][2]int, n)
	for i := range out {
		out[i] = [2]int{fg[i%len(fg)], fw[i%len(fw)]}
	}
	return out
}

// front is the Pareto front over whole configurations: every pair of a
// gateway-front part and a worker-front part whose maxima fit the quota
// (and settings whose runs a quota bound, whole), non-dominated.
func (s *Search) front() []Point {
	var pts []Point
	fg, fw := s.deploymentFront(0), s.deploymentFront(1)
	for _, g := range fg {
		for _, w := range fw {
			if g != w && (s.Evaluated[g].QuotaHeld || s.Evaluated[w].QuotaHeld) {
				continue
			}
			if s.Space.quota.fits(s.Space.maxima(s.Combine(g, w))) {
				pts = append(pts, s.point(g, w))
			}
		}
	}
	for i, e := range s.Evaluated {
		if e.QuotaHeld {
			pts = append(pts, s.point(i, i))
		}
	}
	idx := make([]int, len(pts))
	for i := range idx {
		idx[i] = i
	}
	keep := nonDominated(idx, func(i int) (float64, float64) { return pts[i].SLOSeconds.Mean, pts[i].PodHours.Mean })
	out := make([]Point, len(keep))
	for i, k := range keep {
		out[i] = pts[k]
	}
	return out
}

// Combine is the setting with the gateway's knobs of Evaluated[g] and the
// worker's of Evaluated[w].
func (s *Search) Combine(g, w int) Setting {
	v := append(Setting(nil), s.Evaluated[g].Setting...)
	for i, k := range s.Space.Knobs {
		if k.Deployment == sim.WorkerName {
			v[i] = s.Evaluated[w].Setting[i]
		}
	}
	return v
}

// Setting is the configuration of a point.
func (s *Search) Setting(p Point) Setting { return s.Combine(p.Gateway, p.Worker) }
