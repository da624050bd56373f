package worker_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/scrape"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// TestExportsTable: every series internal/scrape says the worker's image
// exports is one the worker really registers. New contacts nothing, so the
// client points nowhere.
func TestExportsTable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	w, err := worker.New(rdb, nil, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := scrape.CheckExports("voiceassist/voiceassist-worker", w.Registry()); err != nil {
		t.Error(err)
	}
}
