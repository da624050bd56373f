package recommend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTopCaptureParsing(t *testing.T) {
	// Two stamped tables (a `date; kubectl top` loop), with -A, and a third
	// unstamped table in a second file.
	a := writeFile(t, "baseline.txt", `2026-11-20T10:00:00Z
NAMESPACE     POD                                  NAME     CPU(cores)   MEMORY(bytes)
voiceassist   `+serverPod+`   server   120m         300Mi
kube-system   metrics-server-6d94bc8694-abcde      metrics-server   3m   20Mi

2026-11-20T10:01:00Z
NAMESPACE     POD                                  NAME     CPU(cores)   MEMORY(bytes)
voiceassist   `+serverPod+`   server   1            314572800
`)
	b := writeFile(t, "baseline-2.txt", `POD                                  NAME     CPU(cores)   MEMORY(bytes)
`+serverPod+`   server   0.25   1Gi
No resources found in voiceassist namespace.
`)
	obs, err := TopCaptures{Files: []string{a, b}}.Read(context.Background(), Scope{Namespaces: []string{"voiceassist"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Samples) != 3 {
		t.Fatalf("%d samples, want 3 (kube-system dropped): %+v", len(obs.Samples), obs.Samples)
	}
	want := []struct {
		at       time.Time
		cpu, mem float64
	}{
		{time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), 0.12, 300 * mi},
		{time.Date(2026, 11, 20, 10, 1, 0, 0, time.UTC), 1, 300 * mi},
		{time.Date(2026, 11, 20, 10, 2, 0, 0, time.UTC), 0.25, 1024 * mi}, // a minute after the last stamp
	}
	for i, w := range want {
		s := obs.Samples[i]
		if !s.Time.Equal(w.at) || s.CPUCores != w.cpu || s.MemoryBytes != w.mem || s.Pod != serverPod || s.Container != "server" {
			t.Errorf("sample %d = %+v, want at %s cpu %g mem %g", i, s, w.at, w.cpu, w.mem)
		}
	}

	// Without any stamp, the last capture is "now" and the others a minute apart.
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	obs, err = TopCaptures{Files: []string{b, b}, Now: now}.Read(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Samples) != 2 || !obs.Samples[0].Time.Equal(now.Add(-time.Minute)) || !obs.Samples[1].Time.Equal(now) {
		t.Errorf("unstamped captures at %v, want a minute apart ending at %s", obs.Samples, now)
	}
}

func TestTopCaptureErrorsNameFileAndLine(t *testing.T) {
	header := "POD NAME CPU(cores) MEMORY(bytes)\n"
	for name, tc := range map[string]struct{ body, want string }{
		"before header":   {serverPod + " server 1m 1Mi\n", ":1: "},
		"columns":         {header + serverPod + " server 1m\n", ":2: 3 columns, want 4"},
		"bad cpu":         {header + "\n" + serverPod + " server lots 1Mi\n", `:3: column CPU(cores): "lots" is not a quantity`},
		"negative memory": {header + serverPod + " server 1m -5Mi\n", `:2: column MEMORY(bytes): "-5Mi" is negative`},
		"no --containers": {"NAME CPU(cores) MEMORY(bytes)\n" + serverPod + " 1m 1Mi\n", ":1: a capture of `kubectl top pods` without --containers"},
		"duplicate":       {header + serverPod + " server 1m 1Mi\n" + serverPod + " server 2m 1Mi\n", ":3: pod " + serverPod + " container server appears twice in one capture (first on line 2)"},
		"kubectl error":   {"error: Metrics API not available\n", `:1: "error: Metrics API not available" before any header line`},
		"empty":           {"\n\n", "no `kubectl top pods --containers` table"},
	} {
		t.Run(name, func(t *testing.T) {
			f := writeFile(t, "capture.txt", tc.body)
			_, err := TopCaptures{Files: []string{f}}.Read(context.Background(), Scope{})
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := err.(*InputError); !ok {
				t.Errorf("error %T, want *InputError (exit 2)", err)
			}
			if !strings.HasPrefix(err.Error(), f) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with the file %s and contain %q", err, f, tc.want)
			}
		})
	}
}
