package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Log keys the services share, so one query finds a job or a request in
// every service's logs.
const (
	KeyJobID     = "job_id"
	KeyRequestID = "request_id"
	KeyQueue     = "queue"
	KeyAttempt   = "attempt"
	KeyErr       = "err"
	// KeyComponent names a library speaking through our logger (go-redis).
	KeyComponent = "component"
)

// NewLogger is every service's logger: JSON lines on w (stderr in Main) at
// level.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// SetProcessLogger makes log the process's: the slog default, and the
// destination of go-redis's own messages (dial failures during an outage),
// as warnings. Main calls it; Run does not, because go-redis's logger is a
// global that tests running several services in one process must not race
// on.
func SetProcessLogger(log *slog.Logger) {
	slog.SetDefault(log)
	redis.SetLogger(redisLogger{log})
}

// redisLogger adapts a slog.Logger to go-redis's internal.Logging.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), KeyComponent, "go-redis")
}
