package cluster

import (
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/client/external_metrics"
)

// ErrNoExternalSeries is an External metric read that returned no series
// for the selector. The HPA controller treats it as a failed read
// (FailedGetExternalMetric, with this message from its metrics client):
// the metric gets no value and the HPA does not scale down on it.
var ErrNoExternalSeries = errors.New("no metrics returned from external metrics API")

// ExternalSum is one External metric read as the HPA controller reads it.
type ExternalSum struct {
	// Value is the series' values summed in milli-units (each rounded up
	// to a milli-unit first, as the controller sums them).
	Value resource.Quantity
	// Series is how many series the selector matched.
	Series int
	// Newest is the newest series' timestamp.
	Newest time.Time
}

// ReadExternalSum reads the External metric name for the HPA's selector
// in namespace ns and sums its series. With no series it returns the
// count (0) and ErrNoExternalSeries; any other error is the API's.
func ReadExternalSum(ext external_metrics.ExternalMetricsClient, ns, name string, sel labels.Selector) (ExternalSum, error) {
	l, err := ext.NamespacedMetrics(ns).List(name, sel)
	if err != nil {
		return ExternalSum{}, err
	}
	if len(l.Items) == 0 {
		return ExternalSum{}, ErrNoExternalSeries
	}
	var milli int64
	var newest time.Time
	for _, it := range l.Items {
		milli += it.Value.MilliValue()
		if it.Timestamp.After(newest) {
			newest = it.Timestamp.Time
		}
	}
	return ExternalSum{Value: *resource.NewMilliQuantity(milli, resource.DecimalSI), Series: len(l.Items), Newest: newest}, nil
}
