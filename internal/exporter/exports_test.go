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
	if err := scrape.CheckExports("voiceassist/queue-exporter", reg); err != nil {
		t.Error(err)
	}
}
