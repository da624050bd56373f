package server

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/voiceassist/autoscaling/internal/audio"
)

// The gateway benchmarks put the real handler behind a real listener on
// loopback and load it with vegeta's library (the load generator the
// docs use), next to a reference measured the same way in the same run:
//
//   - /health against a bare net/http handler that writes 200: the floor of
//     the Go HTTP stack on this machine, so the difference is our middleware
//     (request id, access log, promhttp instrumentation, mux);
//   - /v1/analyze against calling audio.Analyze directly on all cores: the
//     difference is HTTP, upload reading, WAV decoding and JSON.
//
// vegeta runs in the same process and shares the cores with the server, so
// absolute figures are lower than with a separate load generator; the
// comparison holds because every variant pays the same. Each benchmark
// reports req/s, req/s per core (GOMAXPROCS) and p99 latency.

// Concurrency is the number of vegeta workers, each with its own keep-alive
// connection. /health needs many to keep the cores busy through loopback
// round trips; /v1/analyze is CPU-bound for milliseconds per request, so
// 2 per core saturate it and more would only add queueing to the p99
// (Little's law: latency = in-flight / throughput).
var (
	healthConcurrency  = 16
	analyzeConcurrency = 2 * runtime.GOMAXPROCS(0)
)

// countPacer sends as fast as the workers allow and stops after n hits, so
// b.N means requests and ns/op is the inverse of throughput.
type countPacer struct{ n uint64 }

func (p countPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= p.n }
func (p countPacer) Rate(time.Duration) float64                              { return 0 }

func serveLoopback(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func attack(b *testing.B, target vegeta.Target, wantCode uint16, concurrency int) {
	b.Helper()
	newAttacker := func() *vegeta.Attacker {
		return vegeta.NewAttacker(
			vegeta.Workers(uint64(concurrency)), vegeta.MaxWorkers(uint64(concurrency)),
			vegeta.Connections(concurrency), vegeta.KeepAlive(true),
			vegeta.Timeout(30*time.Second), vegeta.MaxBody(1<<20),
		)
	}
	atk := newAttacker()
	tr := vegeta.NewStaticTargeter(target)
	// Warm up connections and the server's pools outside the timer.
	var warm vegeta.Metrics
	for res := range atk.Attack(tr, countPacer{n: uint64(concurrency) * 4}, 0, "warmup") {
		warm.Add(res)
	}
	atk = newAttacker() // an Attacker is spent once its attack stops

	var m vegeta.Metrics
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	for res := range atk.Attack(tr, countPacer{n: uint64(b.N)}, 0, "bench") {
		if res.Code != wantCode {
			b.Fatalf("%s %s: status %d (%s) %s", target.Method, target.URL, res.Code, res.Error, res.Body)
		}
		m.Add(res)
	}
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	m.Close()
	rps := float64(m.Requests) / elapsed.Seconds()
	// CPU time per request (server and vegeta, this process): on a machine
	// loaded by others wall-clock req/s measures their load; CPU per request
	// is what the code costs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(m.Requests), "cpu-µs/req")
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(rps/float64(runtime.GOMAXPROCS(0)), "req/s/core")
	b.ReportMetric(float64(m.Latencies.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(concurrency), "in-flight")
}

// processCPU is this process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGateway is the production handler with production defaults and
// logging at info to io.Discard (formatting cost included, I/O excluded).
// No database or Redis: /health and /v1/analyze never touch them.
func benchGateway() http.Handler {
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return New(DefaultConfig(), Deps{Logger: log}).Handler()
}

func BenchmarkHealth(b *testing.B) {
	b.Run("ref=bare-net-http", func(b *testing.B) {
		url := serveLoopback(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
		}))
		attack(b, vegeta.Target{Method: "GET", URL: url + "/health"}, 200, healthConcurrency)
	})
	b.Run("gateway", func(b *testing.B) {
		// The whole gateway as the binary serves it: service.StartHTTP with
		// the production Serving (timeouts, the connection cap's
		// LimitListener) in front of the production handler.
		log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
		cfg := DefaultConfig()
		url := serveProduction(b, New(cfg, Deps{Logger: log}), cfg, log)
		attack(b, vegeta.Target{Method: "GET", URL: url + "/health"}, 200, healthConcurrency)
	})
}

// benchClip is 1 s of 16 kHz 16-bit mono speech-like signal (a tone with
// on/off syllables over noise), so voice detection has work to do.
func benchClip(b *testing.B) []byte {
	b.Helper()
	const rate = 16000
	s := make([]float64, rate)
	seed := uint32(1)
	for i := range s {
		seed = seed*1664525 + 1013904223
		noise := (float64(seed>>8)/float64(1<<24) - 0.5) * 0.01
		on := (i/2400)%2 == 0
		v := noise
		if on {
			v += 0.4 * math.Sin(2*math.Pi*220*float64(i)/rate)
		}
		s[i] = v
	}
	var buf bytes.Buffer
	if err := audio.Encode(&buf, &audio.Clip{SampleRate: rate, Channels: [][]float64{s}}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkAnalyze(b *testing.B) {
	wavBytes := benchClip(b)
	clip, err := audio.Decode(bytes.NewReader(wavBytes))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ref=audio.Analyze-direct", func(b *testing.B) {
		parallelDirect(b, func() { audio.Analyze(clip) })
	})
	b.Run("ref=decode+analyze-direct", func(b *testing.B) {
		parallelDirect(b, func() {
			c, err := audio.Decode(bytes.NewReader(wavBytes))
			if err != nil {
				panic(err)
			}
			audio.Analyze(c)
		})
	})
	b.Run("gateway", func(b *testing.B) {
		url := serveLoopback(b, benchGateway())
		hdr := http.Header{"Content-Type": []string{"audio/wav"}}
		attack(b, vegeta.Target{Method: "POST", URL: url + "/v1/analyze", Body: wavBytes, Header: hdr}, 200, analyzeConcurrency)
	})
}

// parallelDirect runs f on GOMAXPROCS goroutines (all cores, as the HTTP
// server would) and reports the same metrics as attack.
func parallelDirect(b *testing.B, f func()) {
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	f() // warm up
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			f()
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lats)
	rps := float64(len(lats)) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(rps/float64(runtime.GOMAXPROCS(0)), "req/s/core")
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[(len(lats)*99)/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "in-flight")
}
