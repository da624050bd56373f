package imagebuild

import (
	"bytes"
	"context"
	"crypto/x509"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// moduleDir is the module root, two levels above this package.
var moduleDir, _ = filepath.Abs(filepath.Join("..", ".."))

func options(t *testing.T, out string) Options {
	t.Helper()
	return Options{
		ModuleDir: moduleDir,
		OutDir:    out,
		Repo:      DefaultRepo,
		Tag:       "repro-test",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		Source:    DefaultSource,
		Created:   time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC),
		Arch:      runtime.GOARCH,
		CABundle:  DefaultCABundle,
	}
}

// TestImagesReproducible is the promise of `make images`: two builds of
// the same commit give the same digests. The second build links into
// another directory; -trimpath keeps that out of the binaries. Then it
// checks what the images are: user, entrypoint, labels, CA bundle, and a
// static binary that runs.
func TestImagesReproducible(t *testing.T) {
	ctx := context.Background()
	first, err := Build(ctx, options(t, filepath.Join(t.TempDir(), "a")))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(ctx, options(t, filepath.Join(t.TempDir(), "b")))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(Images) || len(second) != len(Images) {
		t.Fatalf("built %d and %d images, want %d", len(first), len(second), len(Images))
	}
	for i := range first {
		if first[i].Digest != second[i].Digest {
			t.Errorf("%s: two builds gave %s and %s", first[i].Ref, first[i].Digest, second[i].Digest)
		}
	}

	hostCA, err := os.ReadFile(DefaultCABundle)
	if err != nil {
		t.Fatal(err)
	}
	var baseLayers []v1.Hash
	for _, r := range first {
		t.Run(r.Image.Name, func(t *testing.T) {
			img, refName, err := ociimage.ReadLayout(r.Layout)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := img.Digest(); d != r.Digest {
				t.Errorf("layout holds %s, Build reported %s", d, r.Digest)
			}
			if refName != "voiceassist/"+r.Image.Name+":repro-test" {
				t.Errorf("layout ref name %q", refName)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("image does not validate: %v", err)
			}
			checkConfig(t, img, r)

			_, ca, err := ociimage.ReadFile(img, "/etc/ssl/certs/ca-certificates.crt")
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			if !bytes.Equal(ca, hostCA) || !pool.AppendCertsFromPEM(ca) {
				t.Errorf("CA bundle in the image: %d bytes, not the host's %d-byte PEM bundle", len(ca), len(hostCA))
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("layers: %d, %v; want base + binary", len(layers), err)
			}
			d, _ := layers[0].Digest()
			baseLayers = append(baseLayers, d)

			checkBinary(t, img, r)
		})
	}
	// One base layer for all four: a registry stores it once.
	if len(baseLayers) != len(first) || len(slices.Compact(slices.Clone(baseLayers))) != 1 {
		t.Errorf("base layers differ between images: %v", baseLayers)
	}

	list, err := os.ReadFile(filepath.Join(filepath.Dir(first[0].Layout), "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range first {
		if !strings.Contains(string(list), r.Ref.String()+" "+r.Digest.String()+"\n") {
			t.Errorf("images.txt lacks %s %s:\n%s", r.Ref, r.Digest, list)
		}
	}
	if _, err := os.Stat(first[0].Tarball); err != nil {
		t.Errorf("tarball: %v", err)
	}
}

func checkConfig(t *testing.T, img v1.Image, r Result) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (the manifests' runAsUser/runAsGroup)", c.User)
	}
	if want := []string{"/usr/local/bin/" + r.Image.Name}; !slices.Equal(c.Entrypoint, want) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want %q and no cmd (the manifests pass args only)", c.Entrypoint, c.Cmd, want)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   DefaultSource,
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.version":  "repro-test",
		"org.opencontainers.image.created":  "2026-12-01T08:30:00Z",
		"org.opencontainers.image.title":    r.Image.Name,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if c.Labels[k] != v || m.Annotations[k] != v {
			t.Errorf("%s: label %q, annotation %q, want %q", k, c.Labels[k], m.Annotations[k], v)
		}
	}
	if !cf.Created.Time.Equal(time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("created %s", cf.Created)
	}
}

// checkBinary takes the binary out of the image's file system, checks how it
// was built, and runs its --help.
func checkBinary(t *testing.T, img v1.Image, r Result) {
	t.Helper()
	h, b, err := ociimage.ReadFile(img, r.Image.Entrypoint())
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("binary mode %o uid %d, want 0755 root-owned (not writable by the process)", h.Mode, h.Uid)
	}
	bin := filepath.Join(t.TempDir(), r.Image.Name)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(bin); err != nil {
		t.Error(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if bi.Path != "github.com/voiceassist/autoscaling/cmd/"+r.Image.Name {
		t.Errorf("binary is %s", bi.Path)
	}
	for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": runtime.GOARCH} {
		if settings[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
		}
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", r.Image.Name, err, out)
	}
	// Every --help names a flag; vactl's lists its commands.
	wantText := "--"
	if r.Image.Name == "vactl" {
		wantText = "render"
	}
	if !strings.Contains(string(out), wantText) {
		t.Errorf("%s --help printed no %q:\n%s", r.Image.Name, wantText, out)
	}
}

func TestOptionsErrors(t *testing.T) {
	for what, mod := range map[string]func(*Options){
		`unknown image "nope"`: func(o *Options) { o.Only = []string{"nope"} },
		`tag "bad tag"`:        func(o *Options) { o.Tag = "bad tag" },
		"created time":         func(o *Options) { o.Created = time.Time{} },
	} {
		o := options(t, t.TempDir())
		mod(&o)
		if _, err := Build(context.Background(), o); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: err %v", what, err)
		}
	}
	// A binary that needs cgo would need a libc the image lacks.
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("checkStatic(/bin/sh): %v", err)
	}
}

func TestReadGit(t *testing.T) {
	ctx := context.Background()
	g, err := ReadGit(ctx, moduleDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ct, err := exec.Command("git", "-C", moduleDir, "log", "-1", "--format=%cI").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := time.Parse(time.RFC3339, strings.TrimSpace(string(ct)))
	if err != nil {
		t.Fatal(err)
	}
	if !g.Created.Equal(want) || len(g.Revision) != 40 || g.Describe == "" {
		t.Errorf("ReadGit = %+v; want the HEAD commit time %s", g, want)
	}
	g, err = ReadGit(ctx, moduleDir, func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1700000000"
		}
		return ""
	})
	if err != nil || !g.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("with SOURCE_DATE_EPOCH: %s, %v", g.Created, err)
	}
	_, err = ReadGit(ctx, moduleDir, func(string) string { return "yesterday" })
	if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: %v", err)
	}
}
