package render

import (
	"strings"
	"testing"
)

func TestRetarget(t *testing.T) {
	src, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env("dev")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Retarget(m, "registry.example/acme/", "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	y, _ := out.AsYaml()
	for _, want := range []string{"image: registry.example/acme/voiceassist-server:1.2.3", "image: registry.example/acme/voiceassist-worker:1.2.3", "image: registry.example/acme/queue-exporter:1.2.3"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("no %q in the retargeted build", want)
		}
	}
	if out.Size() != m.Size() {
		t.Errorf("retargeting changed the object count %d -> %d", m.Size(), out.Size())
	}
	// The databases' images are not ours.
	orig, _ := m.AsYaml()
	for _, l := range strings.Split(string(orig), "\n") {
		if strings.Contains(l, "image:") && (strings.Contains(l, "postgres") || strings.Contains(l, "redis")) && !strings.Contains(string(y), l) {
			t.Errorf("a database image changed: %q", l)
		}
	}
	// Twice: names already retargeted are recognized by their base name.
	again, err := Retarget(out, "registry.example:5000/x", "")
	if err != nil {
		t.Fatal(err)
	}
	y2, _ := again.AsYaml()
	if !strings.Contains(string(y2), "image: registry.example:5000/x/voiceassist-server:1.2.3") {
		t.Errorf("second retarget: %s", y2)
	}
	if _, err := Retarget(m, "", "bad:tag"); err == nil {
		t.Error("tag with ':' accepted")
	}
}

func TestImageName(t *testing.T) {
	for in, want := range map[string]string{
		"voiceassist/voiceassist-server:v1":          "voiceassist/voiceassist-server",
		"localhost:5000/a/queue-exporter":            "localhost:5000/a/queue-exporter",
		"localhost:5000/a/queue-exporter:1@sha256:0": "localhost:5000/a/queue-exporter",
	} {
		if got := imageName(in); got != want {
			t.Errorf("imageName(%q) = %q, want %q", in, got, want)
		}
	}
}
