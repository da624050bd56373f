package testenv

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger returns a JSON slog.Logger writing to t.Log. Servers under test
// can outlive the test by a little (a handler cut off by a shutdown test
// still logs on its way out), and t.Log panics after the test has
// completed, so lines stop being forwarded once the test's cleanup runs.
func Logger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}
