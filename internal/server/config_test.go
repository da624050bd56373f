package server

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaultsEnvAndFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := ParseConfig(nil, envOf(map[string]string{"DATABASE_URL": "postgres://db/x", "ALLOW_UNAUTHENTICATED": "true"}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsListen != ":9091" || c.RetainAudio != 0 || c.LogClientIP || c.OIDCClientClaim != "sub" || !c.AllowUnauthenticated {
		t.Fatalf("auth/retention defaults: %+v", c)
	}
	if c.Listen != ":8000" || c.Queue != "voice-jobs" || c.MaxUploadBytes != 25<<20 ||
		c.PreStopDelay != 5*time.Second || c.ShutdownGrace != 25*time.Second || c.RedisAddr != "localhost:6379" || c.ReadyTimeout != 800*time.Millisecond || c.StartupTimeout != time.Minute {
		t.Fatalf("defaults: %+v", c)
	}

	env := envOf(map[string]string{
		"LISTEN_ADDR": ":9999", "REDIS_ADDR": "r:1", "DATABASE_URL": "postgres://env/x", "QUEUE_NAME": "q-env",
		"MAX_UPLOAD_BYTES": "10MiB", "PRE_STOP_DELAY": "2s", "REDIS_PASSWORD": "secret", "REDIS_DB": "3",
		"LOG_LEVEL": "debug", "DECODE_MEMORY_BYTES": "1GiB",
		"API_KEYS_FILE": "/etc/voiceassist/api-keys/api-keys", "RETAIN_AUDIO": "24h", "LOG_CLIENT_IP": "true",
		"METRICS_LISTEN": ":9999", "OIDC_ISSUER": "https://id.example", "OIDC_AUDIENCE": "va", "OIDC_CLIENT_CLAIM": "azp",
	})
	c, err = ParseConfig([]string{"--queue", "q-flag", "--max-upload-bytes=1024", "-shutdown-grace=40s", "--metrics-listen=:9092"}, env, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9999" || c.RedisAddr != "r:1" || c.DatabaseURL != "postgres://env/x" || c.RedisPassword != "secret" || c.RedisDB != 3 {
		t.Errorf("env not applied: %+v", c)
	}
	if c.Queue != "q-flag" || c.MaxUploadBytes != 1024 || c.ShutdownGrace != 40*time.Second {
		t.Errorf("flags must win over env: %+v", c)
	}
	if c.PreStopDelay != 2*time.Second || c.LogLevel != slog.LevelDebug || c.DecodeMemoryBytes != 1<<30 {
		t.Errorf("env durations/levels/sizes: %+v", c)
	}
	if c.APIKeysFile != "/etc/voiceassist/api-keys/api-keys" || c.RetainAudio != 24*time.Hour || !c.LogClientIP ||
		c.MetricsListen != ":9092" || c.OIDCIssuer != "https://id.example" || c.OIDCAudience != "va" || c.OIDCClientClaim != "azp" || c.AllowUnauthenticated {
		t.Errorf("auth/retention env and flags: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://db/x", "API_KEYS_FILE": "/keys"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no database", nil, map[string]string{}, "DATABASE_URL"},
		{"bad env duration", nil, map[string]string{"DATABASE_URL": "x", "PRE_STOP_DELAY": "5"}, "PRE_STOP_DELAY"},
		{"bad env size", nil, map[string]string{"DATABASE_URL": "x", "MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"},
		{"bad flag size", []string{"--max-upload-bytes=-1"}, base, "max-upload-bytes"},
		{"grace shorter than pre-stop", []string{"--pre-stop-delay=30s"}, base, "--shutdown-grace"},
		{"unknown flag", []string{"--nope"}, base, "nope"},
		{"stray argument", []string{"serve"}, base, "unexpected arguments"},
		{"no authentication", nil, map[string]string{"DATABASE_URL": "x"}, "--api-keys-file (API_KEYS_FILE) and/or --oidc-issuer"},
		{"issuer without audience", []string{"--oidc-issuer=https://id.example"}, base, "--oidc-audience is required"},
		{"plain-http issuer", []string{"--oidc-issuer=http://id.example", "--oidc-audience=a"}, base, "https"},
		{"audience without issuer", []string{"--oidc-audience=a"}, base, "without --oidc-issuer"},
		{"negative retention", []string{"--retain-audio=-1s"}, base, "--retain-audio"},
		{"bad bool", nil, map[string]string{"DATABASE_URL": "x", "ALLOW_UNAUTHENTICATED": "yes please"}, "ALLOW_UNAUTHENTICATED"},
		{"metrics on the API port", []string{"--listen=:8000", "--metrics-listen=:8000"}, base, "port of its own"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		_, err := ParseConfig(c.args, envOf(c.env), &out)
		if err == nil || !strings.Contains(err.Error()+out.String(), c.want) {
			t.Errorf("%s: err %v (output %q), want mention of %q", c.name, err, out.String(), c.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseConfig([]string{"--help"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-listen", "LISTEN_ADDR", "-redis-addr", "REDIS_ADDR", "-database-url", "DATABASE_URL",
		"-queue", "QUEUE_NAME", "-max-upload-bytes", "-pre-stop-delay", "-shutdown-grace", "REDIS_PASSWORD", "SIGTERM",
		"-api-keys-file", "API_KEYS_FILE", "-oidc-issuer", "-allow-unauthenticated", "-retain-audio", "-metrics-listen", "-log-client-ip"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
