package exporter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// BenchmarkExporterScrape measures one full /metrics scrape over HTTP (Redis
// pipeline + encoding) with an empty queue and with 10^6 queued jobs, in the
// same run, so the two figures show that scrape cost does not grow with the
// backlog:
//
//	go test -run '^$' -bench ExporterScrape -benchtime 2s ./internal/exporter/
func BenchmarkExporterScrape(b *testing.B) {
	srv := testenv.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	col, err := exporter.New(rdb, exporter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	ts := httptest.NewServer(exporter.Handler(reg))
	b.Cleanup(ts.Close)
	ctx := context.Background()
	k := queue.KeysFor(queue.DefaultName)

	scrape := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			resp, err := http.Get(ts.URL + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("jobs=0", scrape)

	// Fill 10^6 jobs with enqueue times through pipelines of 1,000-id
	// LPUSH + ZADD, as Enqueue would leave them.
	start := time.Now()
	const total, batch = 1_000_000, 1000
	now := float64(time.Now().UnixMilli())
	for i := 0; i < total; i += batch {
		pipe := rdb.Pipeline()
		ids := make([]any, batch)
		zs := make([]redis.Z, batch)
		for j := range ids {
			id := "job-" + strconv.Itoa(i+j)
			ids[j] = id
			zs[j] = redis.Z{Score: now, Member: id}
		}
		pipe.LPush(ctx, k.Ready, ids...)
		pipe.ZAdd(ctx, k.Enqueued, zs...)
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n, err := rdb.LLen(ctx, k.Ready).Result(); err != nil || n != total {
		b.Fatalf("filled %d (%v), want %d", n, err, total)
	}
	b.Logf("filled %d jobs in %v", total, time.Since(start))
	b.Run("jobs=1000000", scrape)
}
