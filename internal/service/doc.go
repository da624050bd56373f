// Package service is the runtime the three VoiceAssist services share
// (voiceassist-server, voiceassist-worker, queue-exporter): the common flags
// and their environment variables, the JSON logger, opening PostgreSQL and
// Redis with one start-up retry policy, the /health, /ready and /metrics
// probes, the HTTP server with its drain sequence, and Main, which a
// cmd/*/main.go calls in one line.
//
// A service supplies a Command: its name, its --help summary and a
// Component, which declares the service's own flags, validates them, and
// builds the running service (Unit) on the dependencies Run opened. Run is
// Main without the process: tests call it with their own context (cancelling
// it is SIGTERM), arguments, environment and output.
//
// # Lifecycle
//
//  1. Parse flags: a flag wins over its environment variable, which wins
//     over the built-in default; a malformed value is a usage error (exit 2).
//  2. Listen on --listen, and serve at once: /health answers 200 (the
//     process is alive; restarting it cannot bring a database up), /ready
//     503 naming what start-up is waiting for, anything else 503.
//  3. Open PostgreSQL (and wait for Redis where the service needs it),
//     retrying with capped exponential backoff until --startup-timeout: then
//     exit 1, so a wrong DATABASE_URL or a database that never comes shows as
//     CrashLoopBackOff with the last error in the log, rather than a pod that
//     runs and is never ready.
//  4. Serve the service (Serve) until SIGTERM or SIGINT, then drain: /ready
//     fails at once, the pre-stop delay passes, background work (the
//     worker's jobs) finishes its own drain, in-flight requests complete
//     within the shutdown grace. Exit 0, or 1 if anything had to be cut off.
//
// # Extending
//
// A setting every service needs (say, an auth token file) is declared once
// in Common.declare and validated in Common.validate; it then reaches each
// component through Deps.Common. A knob of one service is declared in that
// component's Flags. Middleware for every request (authentication, a limit
// on concurrent request memory) wraps Unit.Handler in Start; background work
// that must not lose jobs at shutdown runs as Unit.Work, whose return the
// drain waits for. docs/running-locally.md follows from the declarations
// (make docs).
package service
