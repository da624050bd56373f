package loadtest

import (
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestDisruptorValidate(t *testing.T) {
	for _, c := range []struct {
		d    Disruptor
		want string
	}{
		{Disruptor{Mode: "drain", Every: time.Minute, Max: 1}, `--disrupt "drain"`},
		{Disruptor{Mode: DisruptKillPod, Every: time.Second, Max: 1}, "--disrupt-every 1s"},
		{Disruptor{Mode: DisruptEvictOne, Every: time.Minute}, "--disrupt-max 0"},
	} {
		if err := c.d.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.d, err, c.want)
		}
	}
	if err := (&Disruptor{Mode: DisruptEvictOne, Every: MinDisruptEvery, Max: 3}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestFailureKinds(t *testing.T) {
	for _, c := range []struct {
		r    vegeta.Result
		want string
	}{
		{vegeta.Result{Code: 200}, ""},
		{vegeta.Result{Code: 202}, ""},
		{vegeta.Result{Code: 503}, "503"},
		{vegeta.Result{Code: 0, Error: "Post \"http://x\": context deadline exceeded (Client.Timeout exceeded)"}, "timeout"},
		{vegeta.Result{Code: 0, Error: "dial tcp 10.0.0.1:8000: connect: connection refused"}, "connection"},
		{vegeta.Result{Code: 0, URL: noPodURL, Error: "refused"}, "no-ready-pod"},
	} {
		if got := failure(&c.r); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var xs []float64
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	q := quantilesOf(xs)
	if q.P50 != 50 || q.P95 != 95 || q.P99 != 99 {
		t.Errorf("quantiles of 1..100: %+v", q)
	}
	if q := quantilesOf(nil); q != (Quantiles{}) {
		t.Errorf("of nothing: %+v", q)
	}
}
