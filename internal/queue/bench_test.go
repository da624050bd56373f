package queue_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// Run both in one invocation so they share the machine's state:
//
//	go test -run '^$' -bench 'EnqueueClaimAck|RedisLPushRPop' -benchtime 3s ./internal/queue/
//
// BenchmarkRedisLPushRPop is the reference: the cheapest possible, unsafe
// queue (a job popped by a consumer that dies is lost) on the same kind of
// server. One EnqueueClaimAck op is a full job life: enqueue script, claim
// script, ack script — 3 round trips against the reference's 2.

func BenchmarkEnqueueClaimAck(b *testing.B) {
	_, rdb := newRedis(b)
	q := newQueue(b, rdb, queue.Options{})
	ctx := context.Background()
	var n atomic.Int64
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			runClients(b, clients, func() error {
				if err := q.Enqueue(ctx, "bench-"+strconv.FormatInt(n.Add(1), 10)); err != nil {
					return err
				}
				l, err := q.TryClaim(ctx)
				if err != nil {
					return err
				}
				return q.Ack(ctx, l)
			})
		})
	}
}

func BenchmarkRedisLPushRPop(b *testing.B) {
	_, rdb := newRedis(b)
	ctx := context.Background()
	var n atomic.Int64
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			runClients(b, clients, func() error {
				if err := rdb.LPush(ctx, "bench:raw", "bench-"+strconv.FormatInt(n.Add(1), 10)).Err(); err != nil {
					return err
				}
				return rdb.RPop(ctx, "bench:raw").Err()
			})
		})
	}
}

// runClients runs b.N ops split over exactly n goroutines (RunParallel would
// start a multiple of GOMAXPROCS) and reports jobs/s over the wall time.
func runClients(b *testing.B, n int, op func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}
