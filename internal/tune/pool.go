package tune

import (
	"context"
	"runtime"
	"sync"
)

// pool runs fn(i, k) for every i < n and k < m on workers goroutines (0:
// GOMAXPROCS), one job per pair, and returns the first error, or ctx's.
// fn must only write what belongs to its own (i, k).
func pool(ctx context.Context, workers, n, m int, fn func(i, k int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type job struct{ i, k int }
	jobs := make(chan job)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := fn(j.i, j.k); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		for k := 0; k < m; k++ {
			select {
			case jobs <- job{i, k}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return firstErr
}
