package nodeagent

// No build tag: this runs in `make test` (go test ./...) as well as with
// the e2e tag.

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// The image's program: a script, so the test can run what was unpacked
// (ociimage.Build copies the bytes; it does not care what they are).
const testProgram = "#!/bin/sh\necho \"ran $0 $* GREETING=$GREETING\"\n"

// testImage builds an image as `make images` does (ociimage.Build, with
// Debian's CA bundle), entrypoint /usr/local/bin/app, Cmd --default, and
// an extra layer with /usr/bin/app-alias, an absolute symlink to it.
func testImage(t *testing.T, mod func(*v1.Config)) v1.Image {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, []byte(testProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Build(ociimage.Spec{
		Binary:       bin,
		Entrypoint:   "/usr/local/bin/app",
		Cmd:          []string{"--default"},
		Env:          []string{"GREETING=from-image"},
		Created:      time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		OS:           "linux",
		Architecture: "amd64",
		CABundle:     "/etc/ssl/certs/ca-certificates.crt",
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/app-alias", Typeflag: tar.TypeSymlink, Linkname: "/usr/local/bin/app"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	alias, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, alias); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg := cf.Config
		mod(&cfg)
		if img, err = mutate.Config(img, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func writeLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	if err := ociimage.WriteLayout(dir, img, name.MustParseReference("example.test/app:1.0")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImageBinary resolves an OCI layout into the Binary the agent runs:
// the unpacked entrypoint (which runs), Cmd as default args, the image's
// env and user, the digest as imageID; then a container's command and args
// applied the way Kubernetes does.
func TestImageBinary(t *testing.T) {
	img := testImage(t, nil)
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	b, err := ImageBinary(writeLayout(t, img), rootfs)
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(rootfs, "usr/local/bin/app")
	if b.Path != entry || !reflect.DeepEqual(b.Args, []string{"--default"}) {
		t.Errorf("Path %q Args %q, want %q [--default]", b.Path, b.Args, entry)
	}
	if got, err := os.ReadFile(b.Path); err != nil || string(got) != testProgram {
		t.Errorf("unpacked entrypoint: %q, %v", got, err)
	}
	if b.Env["GREETING"] != "from-image" || b.Env["PATH"] != "/usr/local/bin:/usr/bin:/bin" {
		t.Errorf("Env = %v, want the image's GREETING and PATH", b.Env)
	}
	if b.Image.UID != ociimage.NonrootUID || b.Image.GID != ociimage.NonrootGID {
		t.Errorf("image user %d:%d, want %d:%d", b.Image.UID, b.Image.GID, ociimage.NonrootUID, ociimage.NonrootGID)
	}
	if want := "example.test/app@" + digest.String(); b.Image.ID() != want {
		t.Errorf("ID() = %q, want %q", b.Image.ID(), want)
	}
	// What was unpacked runs, with the image's default args and env.
	cmd := exec.Command(b.Path, b.Args...)
	cmd.Env = []string{"GREETING=" + b.Env["GREETING"]}
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "ran "+entry+" --default GREETING=from-image\n" {
		t.Errorf("running the entrypoint: %q, %v", out, err)
	}

	// The pod's runAsUser/runAsGroup win over the image's User.
	for _, c := range []struct{ uid, gid, wantUID, wantGID int }{
		{-1, -1, ociimage.NonrootUID, ociimage.NonrootGID},
		{1000, -1, 1000, -1}, // runAs then makes the group the uid, as before
		{-1, 5, ociimage.NonrootUID, 5},
		{0, 0, 0, 0},
	} {
		if uid, gid := b.imageUser(c.uid, c.gid); uid != c.wantUID || gid != c.wantGID {
			t.Errorf("imageUser(%d, %d) = %d:%d, want %d:%d", c.uid, c.gid, uid, gid, c.wantUID, c.wantGID)
		}
	}
	if uid, gid := (Binary{Path: "/bin/true"}).imageUser(-1, -1); uid != -1 || gid != -1 {
		t.Errorf("a local Binary's imageUser = %d:%d, want -1:-1", uid, gid)
	}

	// Kubernetes' command/args over Entrypoint/Cmd.
	missing := func(p string) string { return filepath.Join(rootfs, p) }
	for _, c := range []struct {
		name       string
		ctr        corev1.Container
		path       string
		args, drop []string
	}{
		{"neither: Entrypoint and Cmd", corev1.Container{}, entry, []string{"--default"}, nil},
		{"args replace Cmd", corev1.Container{Args: []string{"--x"}}, entry, nil, nil},
		{"command replaces both", corev1.Container{Command: []string{"/usr/local/bin/app", "--y"}, Args: []string{"--z"}}, entry, nil, nil},
		{"a bare name from the image's PATH", corev1.Container{Command: []string{"app"}}, entry, nil, nil},
		{"a symlink resolves inside the image", corev1.Container{Command: []string{"app-alias"}}, entry, nil, nil},
		{"a program the image lacks (the host has /bin/sh)", corev1.Container{Command: []string{"/bin/sh", "-c", "true"}}, missing("bin/sh"), nil, nil},
		{"a bare name the image lacks", corev1.Container{Command: []string{"sh"}}, missing("usr/local/bin/sh"), nil, nil},
	} {
		got := b.ForContainer(&c.ctr)
		if got.Path != c.path || !reflect.DeepEqual(got.Args, c.args) || !reflect.DeepEqual(got.DropArgs, c.drop) {
			t.Errorf("%s: Path %q Args %q DropArgs %q, want %q %q %q", c.name, got.Path, got.Args, got.DropArgs, c.path, c.args, c.drop)
		}
	}

	// Without an Entrypoint, the first word of args (else Cmd) is the
	// program.
	noEntry := testImage(t, func(c *v1.Config) { c.Entrypoint = nil; c.Cmd = []string{"app", "--cmd"} })
	b2, err := ImageBinary(writeLayout(t, noEntry), filepath.Join(t.TempDir(), "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	entry2 := filepath.Join(b2.Image.Rootfs, "usr/local/bin/app")
	if b2.Path != entry2 || !reflect.DeepEqual(b2.Args, []string{"--cmd"}) {
		t.Errorf("Cmd only: Path %q Args %q", b2.Path, b2.Args)
	}
	if got := b2.ForContainer(&corev1.Container{Args: []string{"/usr/local/bin/app", "--a"}}); got.Path != entry2 || len(got.Args) != 0 || !reflect.DeepEqual(got.DropArgs, []string{"/usr/local/bin/app"}) {
		t.Errorf("Cmd only, args given: Path %q Args %q DropArgs %q", got.Path, got.Args, got.DropArgs)
	}
}

// TestImageBinaryErrors: what the agent cannot run says which image and
// which config field.
func TestImageBinaryErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*v1.Config)
		want string
	}{
		{"working dir", func(c *v1.Config) { c.WorkingDir = "/srv" }, `config WorkingDir "/srv"`},
		{"nothing to run", func(c *v1.Config) { c.Entrypoint, c.Cmd = nil, nil }, "neither Entrypoint nor Cmd"},
		{"unknown user", func(c *v1.Config) { c.User = "nobody" }, `User "nobody"`},
		{"entrypoint not in the image", func(c *v1.Config) { c.Entrypoint = []string{"/bin/app"} }, "entrypoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			layout := writeLayout(t, testImage(t, c.mod))
			_, err := ImageBinary(layout, filepath.Join(t.TempDir(), "rootfs"))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "example.test/app:1.0") || !strings.Contains(err.Error(), layout) {
				t.Errorf("error %v: want one naming the image, its layout and %q", err, c.want)
			}
		})
	}
}
