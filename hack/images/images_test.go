package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"debug/buildinfo"
	"encoding/hex"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/voiceassist/autoscaling/internal/imagebuild"
	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// moduleRoot is the module root, two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

const epoch = 1764577800 // SOURCE_DATE_EPOCH of the test builds: 2025-12-01T08:30:00Z

// TestMakeImagesReproducible is the promise of `make images`: two builds of
// one commit give the same digests. It builds this command (without -race,
// as `make images` runs it) and runs it twice into two directories, then
// checks what the images are: user, entrypoint, labels, CA bundle, and a
// static binary, taken out of its layer, that runs.
func TestMakeImagesReproducible(t *testing.T) {
	tmp := t.TempDir()
	tool := filepath.Join(tmp, "images")
	build := exec.Command("go", "build", "-o", tool, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./hack/images: %v\n%s", err, out)
	}
	run := func(out string) {
		t.Helper()
		cmd := exec.Command(tool, "--out", out, "--tag", "repro-test")
		cmd.Dir = moduleRoot(t)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10))
		start := time.Now()
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("images --out %s: %v\n%s", out, err, b)
		}
		t.Logf("images --out %s: %s\n%s", out, time.Since(start).Round(time.Second), b)
	}
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	run(a)
	run(b)

	listA, err := os.ReadFile(filepath.Join(a, "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listB, err := os.ReadFile(filepath.Join(b, "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(listA, listB) {
		t.Errorf("two builds, two results:\n%s\nand\n%s", listA, listB)
	}
	if n := strings.Count(string(listA), "\n"); n != len(imagebuild.Images) {
		t.Errorf("images.txt lists %d images, want %d:\n%s", n, len(imagebuild.Images), listA)
	}

	revision, err := exec.Command("git", "-C", moduleRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	hostCA, err := os.ReadFile(imagebuild.DefaultCABundle)
	if err != nil {
		t.Fatal(err)
	}
	var baseLayers []v1.Hash
	for _, im := range imagebuild.Images {
		t.Run(im.Name, func(t *testing.T) {
			dir := filepath.Join(a, im.Name)
			img, refName, err := ociimage.ReadLayout(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := "voiceassist/" + im.Name + ":repro-test"
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if refName != ref || !strings.Contains(string(listA), ref+" "+d.String()+"\n") {
				t.Errorf("layout holds %s %s; images.txt says:\n%s", refName, d, listA)
			}
			// Fast: layer bytes are checked below, by digest of the blobs
			// and by reading the files (-race makes full validation slow).
			if err := validate.Image(img, validate.Fast); err != nil {
				t.Errorf("image does not validate: %v", err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("%d layers, %v; want base + binary", len(layers), err)
			}
			for _, l := range layers {
				ld, err := l.Digest()
				if err != nil {
					t.Fatal(err)
				}
				blob, err := os.ReadFile(filepath.Join(dir, "blobs", ld.Algorithm, ld.Hex))
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != ld.Hex {
					t.Errorf("blob %s has digest sha256:%x", ld, sum)
				}
			}
			bd, err := layers[0].Digest()
			if err != nil {
				t.Fatal(err)
			}
			baseLayers = append(baseLayers, bd)

			checkConfig(t, img, im, strings.TrimSpace(string(revision)))

			files, err := ociimage.ReadFiles(img, ociimage.CABundlePath, im.Entrypoint())
			if err != nil {
				t.Fatal(err)
			}
			if ca := files[0].Data; !bytes.Equal(ca, hostCA) || !x509.NewCertPool().AppendCertsFromPEM(ca) {
				t.Errorf("CA bundle at %s: %d bytes, not the host's %d-byte PEM bundle", ociimage.CABundlePath, len(ca), len(hostCA))
			}
			checkBinary(t, files[1], im)
		})
	}
	// One base layer for all four: a registry stores it once.
	if len(baseLayers) != len(imagebuild.Images) || len(slices.Compact(slices.Clone(baseLayers))) != 1 {
		t.Errorf("base layers differ between images: %v", baseLayers)
	}
	if _, err := os.Stat(filepath.Join(a, "vactl.tar")); err != nil {
		t.Errorf("docker-load tarball: %v", err)
	}
}

// TestPushKeepsDigest does what `crane push DIR REF` does with an OCI
// layout (read its one image, remote.Write it) against go-containerregistry's
// registry on loopback: the registry serves the digest `make images`
// printed. The image is assembled from a small binary; the layout is the
// same code path as make images'.
func TestPushKeepsDigest(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, []byte("#!/not/run\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Build(ociimage.Spec{
		Binary: bin, Entrypoint: "/usr/local/bin/app", Created: time.Unix(epoch, 0),
		OS: "linux", Architecture: runtime.GOARCH, CABundle: imagebuild.DefaultCABundle,
	})
	if err != nil {
		t.Fatal(err)
	}
	local, err := name.NewTag("voiceassist/app:1")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "app")
	if err := ociimage.WriteLayout(dir, img, local); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	dst, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://")+"/voiceassist/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	fromLayout, _, err := ociimage.ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, fromLayout); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(dst)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want || desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("registry serves %s %s, want %s %s", desc.MediaType, desc.Digest, types.OCIManifestSchema1, want)
	}
}

func checkConfig(t *testing.T, img v1.Image, im imagebuild.Image, revision string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (the manifests' runAsUser/runAsGroup)", c.User)
	}
	if want := []string{"/usr/local/bin/" + im.Name}; !slices.Equal(c.Entrypoint, want) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want %q and no cmd (the manifests pass args only)", c.Entrypoint, c.Cmd, want)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	created := time.Unix(epoch, 0).UTC()
	if !cf.Created.Time.Equal(created) {
		t.Errorf("created %s, want SOURCE_DATE_EPOCH %s", cf.Created, created)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   imagebuild.DefaultSource,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.version":  "repro-test",
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
		"org.opencontainers.image.title":    im.Name,
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
}

// checkBinary checks how the binary taken out of the image was built, and
// runs its --help.
func checkBinary(t *testing.T, f ociimage.FileContent, im imagebuild.Image) {
	t.Helper()
	if f.Header.Mode != 0o755 || f.Header.Uid != 0 || !f.Header.ModTime.Equal(time.Unix(epoch, 0)) {
		t.Errorf("binary mode %o uid %d mtime %s, want 0755, root-owned (not writable by the process), SOURCE_DATE_EPOCH", f.Header.Mode, f.Header.Uid, f.Header.ModTime)
	}
	bin := filepath.Join(t.TempDir(), im.Name)
	if err := os.WriteFile(bin, f.Data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imagebuild.CheckStatic(bin); err != nil {
		t.Error(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Path != "github.com/voiceassist/autoscaling/cmd/"+im.Name {
		t.Errorf("the binary is %s", bi.Path)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": runtime.GOARCH} {
		if settings[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
		}
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", im.Name, err, out)
	}
	if !strings.Contains(string(out), "Usage") || !strings.Contains(string(out), im.Name) {
		t.Errorf("%s --help printed no usage:\n%s", im.Name, out)
	}
}

// An unknown --only name is a usage error (exit 2), like a bad flag, not a
// failed build (exit 1); it is found before anything is built.
func TestUnknownImageExits2(t *testing.T) {
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{"images", "--only", "bogus", "--out", t.TempDir()}
	if code := run(); code != 2 {
		t.Fatalf("--only bogus: exit %d, want 2", code)
	}
}
