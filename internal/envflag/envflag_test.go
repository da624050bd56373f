package envflag

import (
	"flag"
	"io"
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
