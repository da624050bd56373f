//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"
)

// TestScaleGateway drives the API gateway with real HTTP load and watches
// its HPA act on the CPU utilization the real metrics-server measures:
//
//   - scale up: POST /v1/analyze with a 4 s WAV (decoding and analysing it
//     is CPU work on the gateway), at a constant total rate
//     (VA_E2E_GATEWAY_RPS, default 40/s) spread over the Service's ready
//     endpoints; the Deployment must grow from 3 to the HPA's maximum (7)
//     within 5 minutes, never by more than 2 pods in any 30 s (the Pods
//     2/30 s policy under selectPolicy Min: Percent 100 % alone would allow
//     3 → 6), and the HPA must report ScalingLimited/ScaleUpLimit on the
//     way (the cap bound, not the load);
//   - scale down after the load stops: back to 3 within the window plus
//     one period per pod plus 3 minutes (6 minutes at ÷10), no
//     pod removed before the stabilization window has passed since the
//     last recommendation above the current count (CPU above target),
//     never more than 1 pod per period.
//
// It uses scalingOverlay (bounds 3–7, pod CPU request ÷5, scale-down
// window and period ÷VA_E2E_TIME_FACTOR). `-run TestScaleGateway/up`
// runs only the scale-up.
func TestScaleGateway(t *testing.T) {
	f := timeFactor(t)
	// Scale-down needs the window and one period per pod removed.
	downLimit := time.Duration(300/f)*time.Second*time.Duration(1+gwMax-gwMin) + 3*time.Minute
	ctx := scenario(t, 9*time.Minute+downLimit)
	rps := envRate(t, "VA_E2E_GATEWAY_RPS", 40)
	r := scalingOverlay(t)
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", gwMin)
	waitHPASteady(ctx, t, "voiceassist-server-hpa", gwMin)

	rec := record(ctx, "voiceassist-server", "voiceassist-server-hpa", utilizationAbove("cpu"))
	defer rec.stop()
	defer func() {
		t.Logf("replicas: %s", rec.timeline())
		t.Logf("HPA status over time:\n%s", rec.hpaLog())
	}()
	upPeriod := 30 * time.Second
	downWindow := time.Duration(300/f) * time.Second
	downPeriod := time.Duration(300/f) * time.Second
	const slack = 2 * time.Second

	t.Run("up", func(t *testing.T) {
		b, err := newBalancer(ctx, "voiceassist", "voiceassist-server", "http")
		if err != nil {
			t.Fatal(err)
		}
		body := testWAV(4, 44100, 1)
		t.Logf("load: POST /v1/analyze, %d-byte WAV (4 s, 44.1 kHz mono), %d requests/s in total", len(body), rps)
		load := startHTTPLoad(ctx, b, "/v1/analyze", body, rps, 6*time.Minute)
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = rec.waitReplicas(wctx, func(n int32) bool { return n >= gwMax })
		cancel()
		t.Logf("load: %s", load.stop())
		if err != nil {
			t.Errorf("did not reach %d replicas within 5 minutes: %v", gwMax, err)
		} else {
			t.Logf("reached %d replicas %.0fs after the load started", gwMax, time.Since(start).Seconds())
		}
		if rec.current() <= gwMin {
			t.Fatalf("no scale-up at all under load")
		}
		checkRate(t, rec, upPeriod-slack, "+2 pods per 30 s", func(from, to int32) bool { return to-from <= 2 })
		if ok, l := rec.limitedBy("ScaleUpLimit"); !ok {
			t.Errorf("the HPA never reported ScalingLimited=True/ScaleUpLimit (%s): %v", "the load did not ask for more than the policy allows, so the cap was not exercised", l)
		} else {
			t.Logf("ScalingLimited over time: %v", l)
		}
	})

	t.Run("down", func(t *testing.T) {
		stopped, peak := time.Now(), rec.current()
		wctx, cancel := context.WithTimeout(ctx, downLimit)
		defer cancel()
		if err := rec.waitReplicas(wctx, func(n int32) bool { return n <= gwMin }); err != nil {
			t.Errorf("not back to %d replicas within %s of the load stopping: %v", gwMin, downLimit, err)
		} else {
			t.Logf("back to %d replicas %.0fs after the load stopped", gwMin, time.Since(stopped).Seconds())
		}
		checkRate(t, rec, downPeriod-slack, "-1 pod per "+downPeriod.String(), func(from, to int32) bool { return from-to <= 1 })
		checkStabilization(t, rec, stopped, peak, downWindow, 2*time.Second)
	})
}
