package loadtest

import (
	"sort"
	"strconv"
	"sync"
	"time"
)

// Second is one second of the timeline, T seconds after the load began.
type Second struct {
	T int64 `json:"t"`
	// Phase is "load" while load is offered, "cooldown" after.
	Phase string `json:"phase"`
	// API is the /v1/analyze traffic, Jobs the /v1/jobs traffic.
	API     *Traffic       `json:"api,omitempty"`
	Jobs    *JobTraffic    `json:"jobs,omitempty"`
	Cluster *ClusterSample `json:"cluster,omitempty"`
}

// Traffic is one second of requests. Requests count by the second they
// were sent, responses by the second they came back.
type Traffic struct {
	// Offered is the profile's rate (req/s) at this second.
	Offered float64 `json:"offered"`
	Sent    int     `json:"sent"`
	// OK is the achieved rate: 2xx responses whose body was the real
	// analysis (or job) this second.
	OK int `json:"ok"`
	// Errors counts the other responses by status ("503", "timeout",
	// "connection", "bad-body").
	Errors map[string]int `json:"errors,omitempty"`
	// Latency quantiles (ms) of the responses of this second; 0 without any.
	P50 float64 `json:"p50Ms"`
	P95 float64 `json:"p95Ms"`
	P99 float64 `json:"p99Ms"`
}

// JobTraffic is one second of job submissions (Traffic) and of the jobs
// followed to their end.
type JobTraffic struct {
	Traffic
	Done   int `json:"done"`
	Failed int `json:"failed"`
	// InFlight is the most jobs accepted and not yet done or failed during
	// the second.
	InFlight int `json:"inFlight"`
	// Job latency quantiles (s, acceptance to done) of the jobs ending
	// this second.
	JobP50 float64 `json:"jobP50Seconds"`
	JobP95 float64 `json:"jobP95Seconds"`
	JobP99 float64 `json:"jobP99Seconds"`
}

// ErrorCount sums a second's errors.
func (t *Traffic) ErrorCount() int {
	n := 0
	for _, v := range t.Errors {
		n += v
	}
	return n
}

// bucket accumulates one second of one traffic kind.
type bucket struct {
	offered       float64
	sent, ok      int
	errors        map[string]int
	lat           []float64 // ms
	done, failed  int
	jobLat        []float64 // s
	inFlight      int
	inFlightKnown bool
}

// recorder collects results into per-second buckets.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	secs  map[int64]*bucket
	// every latency of the run, for its overall quantiles
	lat, jobLat []float64
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, secs: map[int64]*bucket{}}
}

func (r *recorder) sec(at time.Time) int64 {
	d := at.Sub(r.start)
	if d < 0 {
		return 0
	}
	return int64(d / time.Second)
}

func (r *recorder) bucket(s int64) *bucket {
	b := r.secs[s]
	if b == nil {
		b = &bucket{errors: map[string]int{}}
		r.secs[s] = b
	}
	return b
}

func (r *recorder) offered(s int64, rate float64) {
	r.mu.Lock()
	r.bucket(s).offered = rate
	r.mu.Unlock()
}

// response records one request sent at sent that took lat; errKind is ""
// for a good response.
func (r *recorder) response(sent time.Time, lat time.Duration, errKind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bucket(r.sec(sent)).sent++
	b := r.bucket(r.sec(sent.Add(lat)))
	b.lat = append(b.lat, float64(lat)/float64(time.Millisecond))
	r.lat = append(r.lat, float64(lat)/float64(time.Millisecond))
	if errKind == "" {
		b.ok++
	} else {
		b.errors[errKind]++
	}
}

// jobEnded records a followed job that ended at end, lat after acceptance.
func (r *recorder) jobEnded(end time.Time, lat time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucket(r.sec(end))
	if failed {
		b.failed++
	} else {
		b.done++
	}
	b.jobLat = append(b.jobLat, lat.Seconds())
	r.jobLat = append(r.jobLat, lat.Seconds())
}

// inFlight records n jobs in flight in second s; a second keeps its most.
func (r *recorder) inFlight(s int64, n int) {
	r.mu.Lock()
	b := r.bucket(s)
	b.inFlight, b.inFlightKnown = max(b.inFlight, n), true
	r.mu.Unlock()
}

func (r *recorder) traffic(s int64) (Traffic, *bucket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.secs[s]
	if b == nil {
		return Traffic{}, nil
	}
	t := Traffic{Offered: b.offered, Sent: b.sent, OK: b.ok}
	if len(b.errors) > 0 {
		t.Errors = map[string]int{}
		for k, v := range b.errors {
			t.Errors[k] = v
		}
	}
	q := quantiles(b.lat, 0.50, 0.95, 0.99)
	t.P50, t.P95, t.P99 = q[0], q[1], q[2]
	c := *b
	c.jobLat = append([]float64(nil), b.jobLat...)
	return t, &c
}

// quantiles are the nearest-rank quantiles of xs (0 for none).
func quantiles(xs []float64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(xs) == 0 {
		return out
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	for i, q := range qs {
		k := int(q*float64(len(s))+0.999999) - 1 // ceil(q n) - 1
		out[i] = s[max(0, min(len(s)-1, k))]
	}
	return out
}

// statusKind names a response that is not a success.
func statusKind(code int) string { return strconv.Itoa(code) }

// Quantiles are p50, p95 and p99.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

func quantilesOf(xs []float64) Quantiles {
	q := quantiles(xs, 0.50, 0.95, 0.99)
	return Quantiles{q[0], q[1], q[2]}
}

// overall are the run's request latency (ms) and job latency (s) quantiles.
func (r *recorder) overall() (req, job Quantiles) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return quantilesOf(r.lat), quantilesOf(r.jobLat)
}
