package queue_test

import (
	"context"
	"encoding/csv"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// Run both in one invocation so they share the machine's state:
//
//	go test -run '^$' -bench 'EnqueueClaimAck|EnqueueAckClaim|RedisLPushRPop|RedisBenchmarkTool' -benchtime 3s ./internal/queue/
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

func BenchmarkEnqueueAckClaim(b *testing.B) {
	_, rdb := newRedis(b)
	q := newQueue(b, rdb, queue.Options{})
	ctx := context.Background()
	var n atomic.Int64
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			runClientsWith(b, clients, func() func() error {
				var held *queue.Lease // this consumer's job, acked by the next op
				return func() error {
					if err := q.Enqueue(ctx, "bench-"+strconv.FormatInt(n.Add(1), 10)); err != nil {
						return err
					}
					var err error
					if held == nil {
						held, err = q.TryClaim(ctx)
					} else {
						held, err = q.AckAndClaim(ctx, held)
					}
					return err
				}
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

// BenchmarkRedisBenchmarkTool is the limit: redis-server's own load tool,
// redis-benchmark (Debian's redis-tools), doing b.N LPUSH then b.N RPOP on a
// server started the same way, with 1 and 8 connections. It reports the
// rate of LPUSH+RPOP pairs, comparable with the jobs/s above.
func BenchmarkRedisBenchmarkTool(b *testing.B) {
	tool, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Fatal("redis-benchmark not on PATH: run scripts/setup-debian.sh")
	}
	srv, _ := newRedis(b)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			b.ResetTimer()
			out, err := exec.Command(tool, "-h", host, "-p", port, "-t", "lpush,rpop",
				"-n", strconv.Itoa(max(b.N, 1000)), "-c", strconv.Itoa(clients), "--csv").Output()
			if err != nil {
				b.Fatalf("redis-benchmark: %v", err)
			}
			rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
			if err != nil {
				b.Fatalf("redis-benchmark csv: %v\n%s", err, out)
			}
			rps := map[string]float64{}
			for _, r := range rows[1:] {
				if rps[r[0]], err = strconv.ParseFloat(r[1], 64); err != nil {
					b.Fatalf("redis-benchmark csv row %q: %v", r, err)
				}
			}
			if rps["LPUSH"] == 0 || rps["RPOP"] == 0 {
				b.Fatalf("redis-benchmark gave no LPUSH/RPOP rates:\n%s", out)
			}
			b.ReportMetric(1/(1/rps["LPUSH"]+1/rps["RPOP"]), "jobs/s")
		})
	}
}

// runClients runs b.N ops split over exactly n goroutines (RunParallel would
// start a multiple of GOMAXPROCS) and reports jobs/s over the wall time.
func runClients(b *testing.B, n int, op func() error) {
	runClientsWith(b, n, func() func() error { return op })
}

// runClientsWith is runClients with per-goroutine state: newOp is called
// once per client goroutine.
func runClientsWith(b *testing.B, n int, newOp func() func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < n; c++ {
		wg.Add(1)
		op := newOp()
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
