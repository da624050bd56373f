package worker_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/worker"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://db/x", "WORKER_CONCURRENCY": "8", "DRAIN_TIMEOUT": "20s", "QUEUE_NAME": "q1", "REDIS_PASSWORD": "s"}
	getenv := func(k string) string { return env[k] }
	f, err := worker.ParseFlags([]string{"--concurrency", "3"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.Worker.Concurrency != 3 || f.Worker.DrainTimeout != 20*time.Second || f.Worker.Queue != "q1" ||
		f.Listen != ":9090" || f.RedisPassword != "s" || f.DatabaseURL != "postgres://db/x" {
		t.Fatalf("flags %+v", f)
	}
	for _, bad := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, nil, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "x", "DRAIN_TIMEOUT": "5"}, nil, "DRAIN_TIMEOUT"},
		{map[string]string{"DATABASE_URL": "x", "WORKER_CONCURRENCY": "many"}, nil, "WORKER_CONCURRENCY"},
		{map[string]string{"DATABASE_URL": "x"}, []string{"--concurrency", "0"}, "--concurrency"},
		{map[string]string{"DATABASE_URL": "x"}, []string{"--queue", "a{b}"}, "--queue"},
	} {
		_, err := worker.ParseFlags(bad.args, func(k string) string { return bad.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("env %v args %v: error %v, want one naming %s", bad.env, bad.args, err, bad.want)
		}
	}
}

// The backoff jitter is a default of worker.Config, not of flag parsing: a
// Config built in code and one parsed from flags run the same queue options.
func TestBackoffJitterDefaultInConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	f, err := worker.ParseFlags(nil, func(k string) string { return map[string]string{"DATABASE_URL": "postgres://h/db"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]worker.Config{"in code": {}, "from flags": f.Worker, "disabled": {QueueOptions: queue.Options{BackoffJitter: -1}}} {
		w, err := worker.New(rdb, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := worker.DefaultBackoffJitter
		if name == "disabled" {
			want = 0
		}
		if got := w.Queue().Options().BackoffJitter; got != want {
			t.Errorf("%s: BackoffJitter %v, want %v", name, got, want)
		}
	}
}
