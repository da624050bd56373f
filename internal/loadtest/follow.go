package loadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// follower reads every accepted job through GET /v1/jobs/{id} until it is
// done or failed. It sweeps the unfinished jobs once per Poll with a few
// requests in flight, so following 1000 jobs does not become a load of
// its own.
type follower struct {
	mu       sync.Mutex
	jobs     map[string]time.Time // id → accepted at
	closed   bool
	stopped  chan struct{}
	stopOnce sync.Once
}

// followConcurrency is the GETs in flight of a sweep.
const followConcurrency = 8

func newFollower() *follower {
	return &follower{jobs: map[string]time.Time{}, stopped: make(chan struct{})}
}

func (f *follower) add(id string, at time.Time) {
	f.mu.Lock()
	f.jobs[id] = at
	f.mu.Unlock()
}

// closeAdds says no more jobs come.
func (f *follower) closeAdds() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (f *follower) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

func (f *follower) stop() { f.stopOnce.Do(func() { close(f.stopped) }) }

// follow sweeps until stopped, ctx ends, or no job is left after the adds
// closed.
func (r *run) follow(ctx context.Context) {
	f := r.fol
	for {
		start := time.Now()
		f.mu.Lock()
		ids := make([]string, 0, len(f.jobs))
		for id := range f.jobs {
			ids = append(ids, id)
		}
		done := f.closed && len(f.jobs) == 0
		f.mu.Unlock()
		if done {
			return
		}
		ch := make(chan string)
		var wg sync.WaitGroup
		for k := 0; k < followConcurrency; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ch {
					r.poll(ctx, id)
				}
			}()
		}
	feed:
		for _, id := range ids {
			select {
			case ch <- id:
			case <-ctx.Done():
				break feed
			case <-f.stopped:
				break feed
			}
		}
		close(ch)
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-f.stopped:
			return
		case <-time.After(time.Until(start.Add(r.cfg.Poll))):
		}
	}
}

// poll reads one job; an ended job leaves the set and is recorded.
func (r *run) poll(ctx context.Context, id string) {
	base := r.cfg.Gateway.Next()
	if base == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs/"+id, nil)
	if err != nil {
		return
	}
	r.cfg.authorize(req.Header)
	res, err := r.cfg.Client.Do(req)
	if err != nil {
		return // read again next sweep
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return
	}
	var j struct {
		Status string `json:"status"`
	}
	if json.NewDecoder(res.Body).Decode(&j) != nil {
		return
	}
	if j.Status != "done" && j.Status != "failed" {
		return
	}
	now := time.Now()
	r.fol.mu.Lock()
	at, ok := r.fol.jobs[id]
	delete(r.fol.jobs, id)
	left := len(r.fol.jobs)
	r.fol.mu.Unlock()
	r.jobRec.inFlight(r.jobRec.sec(now), left)
	if ok {
		r.jobRec.jobEnded(now, now.Sub(at), j.Status == "failed")
	}
}
