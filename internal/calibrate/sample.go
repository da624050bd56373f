package calibrate

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// reading is the CPU counter of every target at one time.
type reading struct {
	at  time.Time
	cpu float64 // process_cpu_seconds_total, summed over the targets
	fs  []Families
}

func read(ctx context.Context, ss []Scraper) (reading, error) {
	fs, err := scrapeAll(ctx, ss)
	if err != nil {
		return reading{}, err
	}
	cpu, err := sumValue(ss, fs, metricCPU, nil)
	if err != nil {
		return reading{}, err
	}
	return reading{at: time.Now(), cpu: cpu, fs: fs}, nil
}

// millicores is the CPU rate between two readings.
func millicores(a, b reading) float64 {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return (b.cpu - a.cpu) / dt * 1000
}

// sampler scrapes the targets every interval while a load runs and keeps
// the highest resident memory of a target (MiB) and the mean and highest
// sum of a gauge (requests or jobs in flight).
type sampler struct {
	mu               sync.Mutex
	maxRSS           float64
	gaugeSum, gaugeN float64
	gaugeMax         float64
	errs             int
	stop             context.CancelFunc
	done             chan struct{}
	firstErr         error
}

func startSampler(ctx context.Context, ss []Scraper, gauge string, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			fs, err := scrapeAll(ctx, ss)
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					s.errs++
					if s.firstErr == nil {
						s.firstErr = err
					}
				}
			} else {
				for _, f := range fs {
					if v, ok := f.value(metricRSS, nil); ok {
						s.maxRSS = max(s.maxRSS, v/(1<<20))
					}
				}
				if gauge != "" {
					if v, err := sumValue(ss, fs, gauge, nil); err == nil {
						s.gaugeSum += v
						s.gaugeN++
						s.gaugeMax = max(s.gaugeMax, v)
					}
				}
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops the sampler: max resident MiB of one target, mean and max of
// the gauge's sum.
func (s *sampler) end() (maxRSS, gaugeMean, gaugeMax float64) {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gaugeN > 0 {
		gaugeMean = s.gaugeSum / s.gaugeN
	}
	return s.maxRSS, gaugeMean, s.gaugeMax
}

// idle measures the targets' CPU (millicores, summed) and resident memory
// (MiB, the mean over targets) with no load over d.
func idle(ctx context.Context, ss []Scraper, d time.Duration) (cpu, rssMi float64, err error) {
	a, err := read(ctx, ss)
	if err != nil {
		return 0, 0, err
	}
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(d):
	}
	b, err := read(ctx, ss)
	if err != nil {
		return 0, 0, err
	}
	rss, err := sumValue(ss, b.fs, metricRSS, nil)
	if err != nil {
		return 0, 0, err
	}
	return millicores(a, b), rss / (1 << 20) / float64(len(ss)), nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
