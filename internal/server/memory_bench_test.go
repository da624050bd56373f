package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/voiceassist/autoscaling/internal/service"
)

// The memory benchmarks reproduce the two measurements of issue 13
// ("Memory") against the production handler served the way the binary
// serves it (service.StartHTTP with the gateway's Serving), in-process, with
// GOMEMLIMIT at the production gateway limit (2Gi,
// k8s/performance/base/resource-limits.yaml). They report the process's peak
// RSS (VmHWM, reset through /proc/self/clear_refs before the load) and run
// their load once whatever b.N is: run them with -benchtime 1x.

// prodMemoryLimit is the gateway container's memory limit in production.
const prodMemoryLimit = 2 << 30

// peakRSS resets the kernel's peak-RSS mark; the returned func reads it.
func peakRSS(b *testing.B) func() int64 {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset peak RSS (needs Linux /proc): %v", err)
	}
	return func() int64 { return procStatusBytes(b, "VmHWM:") }
}

// procStatusBytes reads a "kB" line of /proc/self/status.
func procStatusBytes(b testing.TB, key string) int64 {
	b.Helper()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(st)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", key, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", key)
	return 0
}

// serveProduction serves srv as the binary does and returns its base URL.
func serveProduction(b *testing.B, srv *Server, cfg Config, log *slog.Logger) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := service.StartHTTP(ln, srv.Handler(), cfg.serving(), log)
	b.Cleanup(hs.Close)
	return "http://" + hs.Addr()
}

func withMemoryLimit(b *testing.B, limit int64) {
	old := debug.SetMemoryLimit(limit)
	b.Cleanup(func() { debug.SetMemoryLimit(old) })
}

// BenchmarkMemorySlowUploads: 40 connections each declare a body of
// --max-upload-bytes (25 MiB), send 64 KiB of it and stall, as a slow or
// malicious client does; the figure is the peak RSS while all 40 are held.
func BenchmarkMemorySlowUploads(b *testing.B) {
	const conns, sent = 40, 64 << 10
	withMemoryLimit(b, prodMemoryLimit)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := DefaultConfig()
	srv := New(cfg, Deps{Logger: log})
	base := serveProduction(b, srv, cfg, log)
	addr := strings.TrimPrefix(base, "http://")
	peak := peakRSS(b)
	before := procStatusBytes(b, "VmRSS:")

	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	chunk := bytes.Repeat([]byte{0}, sent)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		open = append(open, c)
		fmt.Fprintf(c, "POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: %d\r\n\r\n", cfg.MaxUploadBytes)
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	// Wait until the server has taken every body into its handler or
	// answered it (the gateway may refuse what its budget cannot hold).
	answered := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		inFlight := int(testutil.ToFloat64(srv.metrics.inFlight))
		if inFlight+answered >= conns {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d uploads in flight", inFlight, conns)
		}
		runtime.Gosched()
		for _, c := range open {
			if c == nil {
				continue
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				b.Logf("refused: %s (Retry-After %q)", res.Status, res.Header.Get("Retry-After"))
				answered++
			}
		}
	}
	// Give the handlers the time to reserve what they reserve (this is a
	// measurement, not a test: the figure is the peak over the window).
	time.Sleep(time.Second)
	b.ReportMetric(float64(before)/(1<<20), "rss-before-MiB")
	b.ReportMetric(float64(peak())/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(answered), "refused")
}

// BenchmarkMemoryConcurrentAnalyses: 200 clients at once POST a 30 s clip
// (16 kHz, 16-bit mono, 960 KB) to /v1/analyze; the figures are the peak RSS
// and how the requests were answered.
func BenchmarkMemoryConcurrentAnalyses(b *testing.B) {
	const clients = 200
	withMemoryLimit(b, prodMemoryLimit)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := DefaultConfig()
	srv := New(cfg, Deps{Logger: log})
	base := serveProduction(b, srv, cfg, log)
	body := wav(b, 30)
	peak := peakRSS(b)

	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var (
		mu    sync.Mutex
		codes = map[string]int{}
		slow  time.Duration // slowest answer that was not a 200
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	for range clients {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			res, err := cl.Post(base+"/v1/analyze", "audio/wav", bytes.NewReader(body))
			d := time.Since(t0)
			key := ""
			if err != nil {
				key = "error"
			} else {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				key = strconv.Itoa(res.StatusCode)
			}
			mu.Lock()
			codes[key]++
			if key != "200" {
				slow = max(slow, d)
			}
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.ReportMetric(float64(peak())/(1<<20), "peak-rss-MiB")
	b.ReportMetric(elapsed.Seconds(), "wall-s")
	b.ReportMetric(float64(codes["200"]), "ok")
	b.ReportMetric(float64(clients-codes["200"]), "refused")
	b.ReportMetric(float64(slow.Milliseconds()), "slowest-refusal-ms")
	b.Logf("answers: %v", codes)
}
