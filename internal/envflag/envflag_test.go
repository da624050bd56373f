package envflag

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (string, int, time.Duration, error) {
	t.Helper()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Set{FS: fs, Getenv: func(k string) string { return env[k] }}
	var str string
	var n int
	var d time.Duration
	s.String(&str, "addr", "ADDR", "def", "address")
	s.Int(&n, "n", "N", 1, "count")
	s.Duration(&d, "d", "D", time.Second, "delay")
	if err := fs.Parse(args); err != nil {
		return "", 0, 0, err
	}
	return str, n, d, s.Err
}

func TestPrecedence(t *testing.T) {
	if s, n, d, err := parse(t, nil); err != nil || s != "def" || n != 1 || d != time.Second {
		t.Fatalf("defaults: %q %d %v %v", s, n, d, err)
	}
	env := map[string]string{"ADDR": "env", "N": "7", "D": "2m"}
	if s, n, d, err := parse(t, env); err != nil || s != "env" || n != 7 || d != 2*time.Minute {
		t.Fatalf("env: %q %d %v %v", s, n, d, err)
	}
	if s, n, d, err := parse(t, env, "-addr", "flag", "-n", "9", "-d", "3s"); err != nil || s != "flag" || n != 9 || d != 3*time.Second {
		t.Fatalf("flags over env: %q %d %v %v", s, n, d, err)
	}
}

func TestMalformedVariableNamed(t *testing.T) {
	for env, want := range map[string]string{"N": `$N="x": not an integer`, "D": `$D="x": not a duration`} {
		_, _, _, err := parse(t, map[string]string{env: "x"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=x: got %v, want %q", env, err, want)
		}
	}
}

func TestBytesTextEnvOnlyAndVars(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := map[string]string{"SIZE": "10MiB", "LEVEL": "debug", "PASS": "s"}
	s := Set{FS: fs, Getenv: func(k string) string { return env[k] }}
	var size int64
	var level slog.Level
	var pass string
	s.Bytes(&size, "size", "SIZE", 25<<20, "upload limit")
	s.Text(&level, "level", "LEVEL", "log level")
	s.EnvOnly(&pass, "PASS", "password")
	if err := fs.Parse([]string{"--size=2KiB"}); err != nil || s.Err != nil {
		t.Fatal(err, s.Err)
	}
	if size != 2048 || level != slog.LevelDebug || pass != "s" {
		t.Fatalf("size %d level %v pass %q", size, level, pass)
	}
	want := []Var{{"size", "SIZE", "25MiB", "upload limit"}, {"level", "LEVEL", "info", "log level"}, {"", "PASS", "", "password"}}
	if len(s.Vars) != len(want) {
		t.Fatalf("Vars = %+v", s.Vars)
	}
	for i := range want {
		if s.Vars[i] != want[i] {
			t.Errorf("Vars[%d] = %+v, want %+v (the built-in default, not the variable's)", i, s.Vars[i], want[i])
		}
	}
	for env, wantErr := range map[string]string{"SIZE": `$SIZE="lots": not a byte size`, "LEVEL": `$LEVEL="lots":`} {
		s := Set{FS: flag.NewFlagSet("y", flag.ContinueOnError), Getenv: func(k string) string {
			if k == env {
				return "lots"
			}
			return ""
		}}
		s.Bytes(&size, "size", "SIZE", 1, "")
		s.Text(&level, "level", "LEVEL", "")
		if s.Err == nil || !strings.Contains(s.Err.Error(), wantErr) {
			t.Errorf("%s=lots: %v, want %q", env, s.Err, wantErr)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "25MiB": 25 << 20, "25 MiB": 25 << 20, "1k": 1024, "2G": 2 << 30, "7B": 7} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "99999999999GiB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
	for n, want := range map[int64]string{25 << 20: "25MiB", 1 << 30: "1GiB", 1000: "1000", 1536: "1536"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
