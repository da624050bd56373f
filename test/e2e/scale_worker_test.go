//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestScaleWorker submits a burst of real jobs through the gateway
// (POST /v1/jobs: stored in PostgreSQL, queued in Redis) and watches the
// worker HPA act on the External queue metrics: queue-exporter → Prometheus
// (scraping it as our ServiceMonitor says) → the metrics provider (our
// Prometheus Adapter rules) → external.metrics.k8s.io → HPA controller.
//
//   - up: 700 jobs (VA_E2E_WORKER_JOBS) of a 1 s WAV, each taking 3 s more
//     (--simulate-work); the workers must grow from 1 to the maximum (4)
//     within 5 minutes, never faster than the scale-up policy (50 % per
//     60 s: from n pods at most ceil(1.5 n) within a period), with
//     ScalingLimited/ScaleUpLimit reported on the way;
//   - down: once the burst is worked off, with a trickle of 1 job/s still
//     coming (so workers terminate while they hold jobs), back to 1 within
//     the window plus one period per pod plus 3 minutes (7 minutes at
//     ÷10), never faster than 10 % per period (from n pods at least
//     int(0.9 n) within it), nothing removed before the stabilization
//     window has passed since the last time the queue metrics asked for
//     more workers;
//   - no job lost: every job submitted, burst and trickle, ends "done" in
//     PostgreSQL (GET /v1/jobs/{id} through the gateway).
//
// It uses scalingOverlay (worker bounds 1–4, --simulate-work 3s, windows
// and periods ÷VA_E2E_TIME_FACTOR).
func TestScaleWorker(t *testing.T) {
	f := timeFactor(t)
	// Scale-down needs the window and one period per pod removed.
	downLimit := time.Duration(600/f)*time.Second*time.Duration(1+workerMax-workerMin) + 3*time.Minute
	ctx := scenario(t, 14*time.Minute+downLimit)
	burst := envRate(t, "VA_E2E_WORKER_JOBS", 700)
	r := scalingOverlay(t)
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-worker", workerMin)
	waitHPASteady(ctx, t, "voiceassist-worker-hpa", workerMin)

	gw, err := newBalancer(ctx, "voiceassist", "voiceassist-server", "http")
	if err != nil {
		t.Fatal(err)
	}
	client := podClient(30 * time.Second)
	body := testWAV(1, 16000, 1)
	var (
		mu  sync.Mutex
		ids []string
	)
	addIDs := func(more []string) { mu.Lock(); ids = append(ids, more...); mu.Unlock() }

	rec := record(ctx, "voiceassist-worker", "voiceassist-worker-hpa", externalAbove)
	defer rec.stop()
	defer func() {
		t.Logf("replicas: %s", rec.timeline())
		t.Logf("HPA status over time:\n%s", rec.hpaLog())
	}()
	period := time.Duration(60) * time.Second
	downWindow := time.Duration(600/f) * time.Second
	downPeriod := time.Duration(600/f) * time.Second
	const slack = 2 * time.Second

	t.Run("up", func(t *testing.T) {
		start := time.Now()
		got, err := submitJobs(ctx, client, gw, body, burst, 8)
		addIDs(got)
		if err != nil {
			t.Fatalf("submitting %d jobs: %d accepted, then %v", burst, len(got), err)
		}
		t.Logf("%d jobs (%d-byte WAV) submitted through the gateway in %.1fs", len(got), len(body), time.Since(start).Seconds())
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := rec.waitReplicas(wctx, func(n int32) bool { return n >= workerMax }); err != nil {
			t.Errorf("workers did not reach %d within 5 minutes: %v", workerMax, err)
		} else {
			t.Logf("reached %d workers %.0fs after the burst started", workerMax, time.Since(start).Seconds())
		}
		if rec.current() <= workerMin {
			t.Fatalf("no scale-up at all")
		}
		checkRate(t, rec, period-slack, "+50 % per 60 s", func(from, to int32) bool { return to <= ceilMul(from, 1.5) })
		if ok, l := rec.limitedBy("ScaleUpLimit"); !ok {
			t.Errorf("the HPA never reported ScalingLimited=True/ScaleUpLimit (%s): %v", "the burst did not ask for more than the policy allows", l)
		} else {
			t.Logf("ScalingLimited over time: %v", l)
		}
	})

	t.Run("down", func(t *testing.T) {
		// Wait for the burst to be worked off: the External depth metric
		// (what the HPA reads) back to 0.
		wctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
		defer cancel()
		err := eventually(wctx, func(ctx context.Context) error {
			v, err := metrics.query(ctx, `max(voiceassist_queue_depth{namespace="voiceassist",queue="voice-jobs"})`)
			if err != nil {
				return err
			}
			if len(v) != 1 || v[0].Value != 0 {
				return fmt.Errorf("queue depth %v", v)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the burst was not worked off: %v", err)
		}
		drained, peak := time.Now(), rec.current()
		t.Logf("queue empty (Prometheus) with %d workers; a trickle of 1 job/s continues", peak)
		tctx, stopTrickle := context.WithCancel(ctx)
		trickled := make(chan []string)
		go func() {
			var mine []string
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tctx.Done():
					trickled <- mine
					return
				case <-tick.C:
					if got, err := submitJobs(tctx, client, gw, body, 1, 1); err == nil {
						mine = append(mine, got...)
					} else if tctx.Err() == nil {
						t.Errorf("trickle job: %v", err)
					}
				}
			}
		}()
		wctx2, cancel2 := context.WithTimeout(ctx, downLimit)
		defer cancel2()
		err = rec.waitReplicas(wctx2, func(n int32) bool { return n <= workerMin })
		stopTrickle()
		more := <-trickled
		addIDs(more)
		if err != nil {
			t.Errorf("workers not back to %d within %s: %v", workerMin, downLimit, err)
		} else {
			t.Logf("back to %d worker %.0fs after the queue emptied; %d trickle jobs meanwhile", workerMin, time.Since(drained).Seconds(), len(more))
		}
		checkRate(t, rec, downPeriod-slack, "-10 % per "+downPeriod.String(), func(from, to int32) bool { return to >= int32(float64(from)*0.9) })
		checkStabilization(t, rec, drained, peak, downWindow, 2*time.Second)
	})

	t.Run("no job lost", func(t *testing.T) {
		mu.Lock()
		all := append([]string(nil), ids...)
		mu.Unlock()
		if len(all) == 0 {
			t.Fatal("no job was submitted: the load phase failed, so there is nothing to check")
		}
		wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
		var last map[string][]string
		err := eventually(wctx, func(ctx context.Context) error {
			by, err := jobStatuses(ctx, client, gw, all, 8)
			if err != nil {
				return err
			}
			last = by
			if len(by["done"]) == len(all) {
				return nil
			}
			return fmt.Errorf("%s", summarize(by))
		})
		if err != nil {
			t.Fatalf("%d jobs submitted, not all done: %v", len(all), err)
		}
		t.Logf("all %d jobs done in PostgreSQL (%s)", len(all), summarize(last))
	})
}

// submitJobs POSTs n jobs with body to /v1/jobs, conc at a time, and
// returns the ids of those accepted (202), stopping at the first failure.
func submitJobs(ctx context.Context, client *http.Client, b *balancer, body []byte, n, conc int) ([]string, error) {
	var (
		mu    sync.Mutex
		ids   []string
		first error
		wg    sync.WaitGroup
	)
	next := make(chan struct{})
	go func() {
		defer close(next)
		for i := 0; i < n; i++ {
			select {
			case next <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				id, err := submitJob(ctx, client, b.pick(), body)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && len(ids) < n {
		first = ctx.Err()
	}
	return ids, first
}

func submitJob(ctx context.Context, client *http.Client, ep string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ep+"/v1/jobs", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "audio/wav")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST %s/v1/jobs: HTTP %d %s", ep, resp.StatusCode, b)
	}
	var j struct{ ID, Status string }
	if err := json.Unmarshal(b, &j); err != nil || j.ID == "" {
		return "", fmt.Errorf("POST %s/v1/jobs: answer %s (%v)", ep, b, err)
	}
	return j.ID, nil
}

// jobStatuses reads every job through GET /v1/jobs/{id} and groups the ids
// by status.
func jobStatuses(ctx context.Context, client *http.Client, b *balancer, ids []string, conc int) (map[string][]string, error) {
	var (
		mu    sync.Mutex
		by    = map[string][]string{}
		first error
		wg    sync.WaitGroup
	)
	next := make(chan string)
	go func() {
		defer close(next)
		for _, id := range ids {
			select {
			case next <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				status, err := jobStatus(ctx, client, b.pick(), id)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					by[status] = append(by[status], id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return by, first
}

func jobStatus(ctx context.Context, client *http.Client, ep, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep+"/v1/jobs/"+id, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /v1/jobs/%s: HTTP %d %s", id, resp.StatusCode, b)
	}
	var j struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return "", err
	}
	if j.Error != "" {
		return j.Status + " (" + j.Error + ")", nil
	}
	return j.Status, nil
}

func summarize(by map[string][]string) string {
	var keys []string
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, len(by[k]))
		if k != "done" && len(by[k]) > 0 {
			s += fmt.Sprintf(" (e.g. %s)", by[k][0])
		}
	}
	return s
}
