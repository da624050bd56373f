package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Targets of a run.
const (
	TargetAPI    = "api"
	TargetWorker = "worker"
	TargetAll    = "all"
)

// Config is one run.
type Config struct {
	// Target is api, worker or all.
	Target string
	Shape  Shape
	// APIRate and JobRate are the TOTAL base rates (req/s, jobs/s) the
	// profile multiplies; a trace gives its own.
	APIRate, JobRate float64
	// Burst, when above 0, submits that many jobs at once instead of a
	// job rate.
	Burst int
	Clips []Clip
	// Gateway is where requests go.
	Gateway Gateway
	// Client sends the requests (nil: one with RequestTimeout).
	Client *http.Client
	// APIKey, when set, goes with every request as
	// "Authorization: Bearer <key>" (ResolveAPIKey finds it).
	APIKey string
	// RequestTimeout bounds each request (default 30 s).
	RequestTimeout time.Duration
	// MaxWorkers bounds the requests in flight per load (vegeta's
	// workers; default 512). An open loop: beyond it, requests are late.
	MaxWorkers uint64
	// Poll is how often an unfinished job is read again (default 1 s).
	Poll time.Duration
	// FollowTimeout bounds how long jobs are followed after the load
	// (default 10 min).
	FollowTimeout time.Duration
	// Watcher samples the cluster every second; nil without a cluster.
	Watcher *Watcher
	// Cooldown after the load; below 0: from the live HPAs' behavior
	// (Watcher.CooldownFor). It ends early once every HPA is back at its
	// minimum and every job has ended.
	Cooldown time.Duration
	// Disrupt, when set, evicts pods during the load.
	Disrupt *Disruptor
	SLOs    []SLO
	// Progress gets one line per second; nil: none.
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.RequestTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = 512
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.FollowTimeout <= 0 {
		c.FollowTimeout = 10 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// authorize adds the API key's Authorization header, when there is a key.
func (c *Config) authorize(h http.Header) {
	if c.APIKey != "" {
		h.Set("Authorization", "Bearer "+c.APIKey)
	}
}

func (c *Config) api() bool  { return c.Target == TargetAPI || c.Target == TargetAll }
func (c *Config) jobs() bool { return c.Target == TargetWorker || c.Target == TargetAll }

// Validate checks what Run cannot start without.
func (c *Config) Validate() error {
	switch {
	case c.Target != TargetAPI && c.Target != TargetWorker && c.Target != TargetAll:
		return fmt.Errorf("target %q: want api, worker or all", c.Target)
	case c.Gateway == nil:
		return errors.New("no gateway to send to")
	case len(c.Clips) == 0:
		return errors.New("no clips to send (--mix)")
	case c.Burst < 0:
		return fmt.Errorf("--burst %d: want 0 or more", c.Burst)
	}
	for _, r := range []struct {
		name string
		v    float64
		used bool
	}{{"--rate", c.APIRate, c.api()}, {"--job-rate", c.JobRate, c.jobs() && c.Burst == 0}} {
		if r.used && c.Shape.Trace == nil && (math.IsNaN(r.v) || math.IsInf(r.v, 0) || r.v <= 0) {
			return fmt.Errorf("%s %v: want a total rate above 0 per second", r.name, r.v)
		}
	}
	if c.Target == TargetWorker && c.Burst > 0 {
		return nil // a burst has no profile
	}
	return c.Shape.Validate()
}

// noPodURL is where a request goes while no pod is ready: it fails at
// once and is counted as "no-ready-pod".
const noPodURL = "http://127.0.0.1:1/no-ready-pod"

// Run offers the load, follows the jobs, cools down and returns the
// report. Cancelling ctx (Ctrl-C) stops the load and the cool-down at
// once; the report covers what ran and says it was interrupted.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	ownClient := cfg.Client == nil
	cfg.defaults()
	if ownClient {
		// the transport Run made is Run's to close: its keep-alive
		// connections would otherwise stay open for IdleConnTimeout
		defer cfg.Client.CloseIdleConnections()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &run{cfg: &cfg, start: start, apiRec: newRecorder(start), jobRec: newRecorder(start),
		cluster: map[int64]*ClusterSample{}, fol: newFollower()}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()

	// wg: every goroutine of the run; attacks: the load's alone, so the
	// load's end is their signal, not a poll
	var wg, attacks sync.WaitGroup
	var apiPacer, jobPacer vegeta.Pacer
	if cfg.api() {
		p := newPacer(cfg.Shape.Duration, func(t float64) float64 {
			rps, _ := cfg.Shape.Rates(time.Duration(t*float64(time.Second)), cfg.APIRate, cfg.JobRate)
			return rps
		})
		apiPacer = p
		r.apiOffered = p.hitsBy
	}
	if cfg.jobs() {
		if cfg.Burst > 0 {
			jobPacer = burstPacer{uint64(cfg.Burst)}
			n := float64(cfg.Burst)
			r.jobOffered = func(t float64) float64 { return min(n, n*math.Ceil(t)) } // all in the first second
		} else {
			p := newPacer(cfg.Shape.Duration, func(t float64) float64 {
				_, jobs := cfg.Shape.Rates(time.Duration(t*float64(time.Second)), cfg.APIRate, cfg.JobRate)
				return jobs
			})
			jobPacer = p
			r.jobOffered = p.hitsBy
		}
	}

	// the per-second sampler, through load and cool-down
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() { defer close(sampled); r.sample(sampleCtx) }()

	if apiPacer != nil {
		wg.Add(1)
		attacks.Add(1)
		go func() { defer wg.Done(); defer attacks.Done(); r.attack(loadCtx, apiPacer, "/v1/analyze", r.analyzed) }()
	}
	if jobPacer != nil {
		wg.Add(1)
		attacks.Add(1)
		go func() { defer wg.Done(); defer attacks.Done(); r.attack(loadCtx, jobPacer, "/v1/jobs", r.accepted) }()
		wg.Add(1)
		go func() { defer wg.Done(); r.follow(ctx) }()
	}
	disrupted := make(chan struct{})
	if cfg.Disrupt != nil {
		go func() {
			defer close(disrupted)
			cfg.Disrupt.run(loadCtx, start, func(d Disruption) {
				r.mu.Lock()
				r.disruptions = append(r.disruptions, d)
				r.mu.Unlock()
				fmt.Fprintf(cfg.Progress, "%5ds disrupt %s pod %s: %s %s\n", d.T, d.Mode, d.Pod, d.Result, d.Message)
			})
		}()
	} else {
		close(disrupted)
	}

	// every attack ends at its pacer's end or, once loadCtx is cancelled
	// (Ctrl-C), at once: attack stops its attacker then
	attacks.Wait()
	stopLoad()
	r.mu.Lock()
	r.loadEnd = time.Since(start)
	if burstOnly := cfg.Target == TargetWorker && cfg.Burst > 0; !burstOnly {
		// the last responses come after the profile's end; the load does not
		r.loadEnd = min(r.loadEnd, cfg.Shape.Duration)
	}
	r.mu.Unlock()
	<-disrupted
	r.fol.closeAdds()

	interrupted := ctx.Err() != nil
	cooldown, why := time.Duration(0), ""
	if !interrupted {
		cooldown, why = r.cooldown()
		if cooldown > 0 || r.fol.pending() > 0 {
			fmt.Fprintf(cfg.Progress, "load ended at %s; cool-down up to %s (%s)\n", r.loadEnd.Round(time.Second), cooldown, why)
		}
		r.coolDown(ctx, cooldown)
		interrupted = ctx.Err() != nil
	}
	r.fol.stop()
	wg.Wait()
	stopSampling()
	<-sampled

	rep := r.report(interrupted, cooldown, why)
	return rep, nil
}

// run is the state of one Run.
type run struct {
	cfg            *Config
	start          time.Time
	apiRec, jobRec *recorder
	fol            *follower
	// apiOffered/jobOffered: requests the profile asks for by t seconds.
	apiOffered, jobOffered func(t float64) float64

	mu          sync.Mutex
	cluster     map[int64]*ClusterSample
	disruptions []Disruption
	loadEnd     time.Duration
}

// attack runs one vegeta attack to its end (the pacer's) or ctx's.
func (r *run) attack(ctx context.Context, p vegeta.Pacer, path string, check func(*vegeta.Result) string) {
	cfg := r.cfg
	pick := newPicker(cfg.Clips)
	var mu sync.Mutex
	var n uint64
	hdr := http.Header{"Content-Type": []string{"audio/wav"}}
	cfg.authorize(hdr)
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		i := pick.pick(n)
		n++
		mu.Unlock()
		base := cfg.Gateway.Next()
		url := base + path
		if base == "" {
			url = noPodURL
		}
		t.Method, t.URL, t.Body, t.Header = http.MethodPost, url, cfg.Clips[i].WAV, hdr
		return nil
	}
	// No vegeta.KeepAlive option: it writes to the shared client's
	// Transport, which the api and worker attacks of "all" use at once (a
	// data race); our transports keep connections alive already.
	a := vegeta.NewAttacker(vegeta.Client(cfg.Client), vegeta.MaxWorkers(cfg.MaxWorkers),
		vegeta.Timeout(cfg.RequestTimeout), vegeta.MaxBody(1<<20))
	res := a.Attack(targeter, p, 0, path)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			a.Stop()
		case <-done:
		}
	}()
	for x := range res {
		check(x)
	}
	close(done)
}

// failure classifies a result that is not a 2xx; "" for a 2xx.
func failure(x *vegeta.Result) string {
	switch {
	case x.URL == noPodURL:
		return "no-ready-pod"
	case x.Code == 0:
		e := strings.ToLower(x.Error)
		if strings.Contains(e, "timeout") || strings.Contains(e, "deadline") {
			return "timeout"
		}
		return "connection"
	case x.Code < 200 || x.Code > 299:
		return statusKind(int(x.Code))
	}
	return ""
}

// analyzed records an /v1/analyze result: a success is a 200 whose body
// is the analysis of one of the clips sent (its duration), so a proxy's
// or a stub's 200 does not count.
func (r *run) analyzed(x *vegeta.Result) string {
	kind := failure(x)
	if kind == "" {
		var body struct {
			DurationSeconds *float64 `json:"duration_seconds"`
		}
		kind = "bad-body"
		if json.Unmarshal(x.Body, &body) == nil && body.DurationSeconds != nil {
			for _, c := range r.cfg.Clips {
				if math.Abs(*body.DurationSeconds-c.Length.Seconds()) < 0.01 {
					kind = ""
				}
			}
		}
	}
	r.apiRec.response(x.Timestamp, x.Latency, kind)
	return kind
}

// accepted records a /v1/jobs result and follows an accepted job.
func (r *run) accepted(x *vegeta.Result) string {
	kind := failure(x)
	var body struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if kind == "" && (x.Code != http.StatusAccepted || json.Unmarshal(x.Body, &body) != nil || body.ID == "") {
		kind = "bad-body"
	}
	r.jobRec.response(x.Timestamp, x.Latency, kind)
	if kind == "" {
		r.fol.add(body.ID, x.End())
		r.jobRec.inFlight(r.jobRec.sec(time.Now()), r.fol.pending())
	}
	return kind
}

// cooldown is the configured cool-down, or the live HPAs'.
func (r *run) cooldown() (time.Duration, string) {
	if r.cfg.Cooldown >= 0 {
		if r.cfg.Cooldown == 0 {
			return 0, "--cooldown 0"
		}
		return r.cfg.Cooldown, "--cooldown"
	}
	if r.cfg.Watcher == nil {
		return 0, "no cluster watched"
	}
	peaks := map[string]int32{}
	r.mu.Lock()
	for _, s := range r.cluster {
		for _, h := range s.HPAs {
			peaks[h.Name] = max(peaks[h.Name], h.Current, h.Desired)
		}
	}
	r.mu.Unlock()
	return r.cfg.Watcher.CooldownFor(peaks)
}

// coolDown waits up to d, ending early once every HPA is at its minimum
// (and wants no more) and every job has ended; jobs are followed for at
// least FollowTimeout whatever d.
func (r *run) coolDown(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	followEnd := time.Now().Add(r.cfg.FollowTimeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		now := time.Now()
		jobsLeft := r.fol.pending() > 0 && now.Before(followEnd)
		if !jobsLeft && (now.After(end) || r.atMin()) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// atMin says whether the last cluster sample has every HPA at its minimum.
func (r *run) atMin() bool {
	if r.cfg.Watcher == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var last *ClusterSample
	var lt int64 = -1
	for t, s := range r.cluster {
		if t > lt && s.Error == "" {
			lt, last = t, s
		}
	}
	if last == nil || int64(r.loadEnd/time.Second) >= lt {
		return false
	}
	for _, h := range last.HPAs {
		if h.Current > h.Min || h.Desired > h.Min {
			return false
		}
	}
	return true
}

// sample records, at the end of each second, its offered load, the jobs
// in flight and a cluster sample, and prints the second before it.
func (r *run) sample(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for s := int64(0); ; s++ {
		if r.apiOffered != nil {
			r.apiRec.offered(s, r.offeredIn(r.apiOffered, s))
		}
		if r.jobOffered != nil {
			r.jobRec.offered(s, r.offeredIn(r.jobOffered, s))
			r.jobRec.inFlight(s, r.fol.pending())
		}
		if w := r.cfg.Watcher; w != nil {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			cs := w.Sample(sctx)
			cancel()
			r.mu.Lock()
			r.cluster[s] = cs
			r.mu.Unlock()
		}
		if s > 0 {
			fmt.Fprintln(r.cfg.Progress, r.second(s-1).progress())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// offeredIn is the profile's requests within second s, 0 after the load.
func (r *run) offeredIn(cum func(float64) float64, s int64) float64 {
	r.mu.Lock()
	end := r.loadEnd
	r.mu.Unlock()
	if end > 0 && time.Duration(s)*time.Second >= end {
		return 0
	}
	return cum(float64(s+1)) - cum(float64(s))
}

// second assembles second s of the timeline.
func (r *run) second(s int64) Second {
	sec := Second{T: s, Phase: "load"}
	r.mu.Lock()
	if r.loadEnd > 0 && time.Duration(s)*time.Second >= r.loadEnd {
		sec.Phase = "cooldown"
	}
	sec.Cluster = r.cluster[s]
	r.mu.Unlock()
	if r.apiOffered != nil {
		t, _ := r.apiRec.traffic(s)
		sec.API = &t
	}
	if r.jobOffered != nil {
		t, b := r.jobRec.traffic(s)
		jt := JobTraffic{Traffic: t}
		if b != nil {
			jt.Done, jt.Failed, jt.InFlight = b.done, b.failed, b.inFlight
			q := quantiles(b.jobLat, 0.50, 0.95, 0.99)
			jt.JobP50, jt.JobP95, jt.JobP99 = q[0], q[1], q[2]
		}
		sec.Jobs = &jt
	}
	return sec
}

func (r *run) report(interrupted bool, cooldown time.Duration, why string) *Report {
	last := int64(time.Since(r.start)/time.Second) + 1 // the partial second too
	var tl []Second
	for s := int64(0); s < last; s++ {
		tl = append(tl, r.second(s))
	}
	r.mu.Lock()
	meta := Meta{Start: r.start, End: time.Now(), Target: r.cfg.Target, Profile: r.cfg.Shape.Name(),
		ProfileDetail: r.cfg.Shape.Describe(), Gateway: r.cfg.Gateway.Describe(), Mix: MixString(r.cfg.Clips),
		APIRate: r.cfg.APIRate, JobRate: r.cfg.JobRate, Burst: r.cfg.Burst,
		LoadSeconds: int64(math.Ceil(r.loadEnd.Seconds())), CooldownSeconds: int64(cooldown / time.Second), CooldownFrom: why,
		Interrupted: interrupted, Cluster: r.cfg.Watcher != nil, Disruptions: append([]Disruption(nil), r.disruptions...)}
	r.mu.Unlock()
	if r.cfg.Watcher != nil {
		meta.Namespace = r.cfg.Watcher.Namespace
	}
	meta.JobsUnfinished = r.fol.pending()
	meta.APILatency, _ = r.apiRec.overall()
	_, meta.JobLatency = r.jobRec.overall()
	return Summarize(meta, tl, r.cfg.SLOs)
}
