package exporter_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voiceassist/autoscaling/internal/scrape"
)

// TestExportsTable: every series internal/scrape says queue-exporter's
// image exports — the queue depth and age the worker HPA reads among them —
// is one a scrape of the real collector on a real Redis yields.
func TestExportsTable(t *testing.T) {
	_, _, _, col := setup(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	got, err := scrape.GatheredSeries(reg)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := scrape.Exports("voiceassist/queue-exporter")
	if !ok || len(want) == 0 {
		t.Fatal("internal/scrape does not know queue-exporter's image")
	}
	for _, s := range want {
		if !got[s] {
			t.Errorf("internal/scrape lists %s for queue-exporter, which a scrape does not yield", s)
		}
	}
}
