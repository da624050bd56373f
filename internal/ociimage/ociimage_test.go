package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The bundle Debian's ca-certificates installs (scripts/setup-debian.sh).
const hostBundle = "/etc/ssl/certs/ca-certificates.crt"

func testSpec(t *testing.T) Spec {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	// The content is arbitrary here: Build copies bytes, it does not run them.
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Binary:       bin,
		Entrypoint:   "/usr/local/bin/app",
		Created:      time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		OS:           "linux",
		Architecture: "amd64",
		CABundle:     hostBundle,
		Labels:       map[string]string{LabelSource: "https://example.test/src", LabelRevision: "abc", LabelVersion: "1.2.3"},
	}
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildConfig(t *testing.T) {
	s := testSpec(t)
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	// validate.Image runs on the image read back from its layout
	// (TestWriteLayoutAndTarball): in memory, go-containerregistry's layers
	// report empty annotation maps that their JSON omits, which validate
	// flags although the bytes are right.
	if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s (%v), want OCI", mt, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type %s", m.Config.MediaType)
	}
	for i, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer %d media type %s", i, l.MediaType)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q", cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/app"}) {
		t.Errorf("entrypoint %q", cf.Config.Entrypoint)
	}
	if !slices.Contains(cf.Config.Env, "PATH=/usr/local/bin:/usr/bin:/bin") {
		t.Errorf("env %q has no PATH", cf.Config.Env)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(s.Created) {
		t.Errorf("os/arch/created %s/%s/%s", cf.OS, cf.Architecture, cf.Created)
	}
	want := map[string]string{
		LabelSource: "https://example.test/src", LabelRevision: "abc", LabelVersion: "1.2.3",
		LabelCreated: "2026-11-30T12:00:00Z",
	}
	for k, v := range want {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
		if m.Annotations[k] != v {
			t.Errorf("manifest annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if len(cf.History) != 2 || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("history %d entries, diff IDs %d; want 2 each", len(cf.History), len(cf.RootFS.DiffIDs))
	}
}

func TestBuildFiles(t *testing.T) {
	s := testSpec(t)
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	hostCA, err := os.ReadFile(hostBundle)
	if err != nil {
		t.Fatal(err)
	}
	h, b, err := ReadFile(img, CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, hostCA) || h.Mode != 0o644 || h.Uid != 0 {
		t.Errorf("CA bundle: %d bytes mode %o uid %d, want the host's %d bytes, 0644, root", len(b), h.Mode, h.Uid, len(hostCA))
	}
	h, b, err = ReadFile(img, "/usr/local/bin/app")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "\x7fELF not really" || h.Mode != 0o755 {
		t.Errorf("binary: %q mode %o", b, h.Mode)
	}
	_, b, err = ReadFile(img, "/etc/passwd")
	if err != nil || !strings.Contains(string(b), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q, %v", b, err)
	}
	h, _, err = ReadFile(img, "/tmp")
	if err != nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v, %v", h, err)
	}
	h, _, err = ReadFile(img, NonrootHome)
	if err != nil || h.Uid != NonrootUID || h.Gid != NonrootGID {
		t.Errorf("%s: %+v, %v", NonrootHome, h, err)
	}
	if _, _, err := ReadFile(img, "/bin/sh"); !errors.Is(err, ErrNotFound) {
		t.Errorf("/bin/sh: err %v, want ErrNotFound (the image has no shell)", err)
	}

	// Every entry of every layer: the fixed time, no owner names, path order.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if !h.ModTime.Equal(s.Created) || h.Uname != "" || h.Gname != "" {
				t.Errorf("layer %d %s: mtime %s uname %q gname %q", i, h.Name, h.ModTime, h.Uname, h.Gname)
			}
		}
		rc.Close()
		if !slices.IsSorted(names) {
			t.Errorf("layer %d entries not in path order: %q", i, names)
		}
	}
}

func TestBuildReproducible(t *testing.T) {
	s := testSpec(t)
	a, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Fatalf("two builds of one spec: %s and %s", digest(t, a), digest(t, b))
	}

	// And the digest depends on what it should: a changed time, label or
	// binary gives another image.
	later := s
	later.Created = s.Created.Add(time.Second)
	relabelled := s
	relabelled.Labels = map[string]string{LabelVersion: "1.2.4"}
	rebuilt := s
	rebuilt.Binary = filepath.Join(t.TempDir(), "app2")
	if err := os.WriteFile(rebuilt.Binary, []byte("other"), 0o755); err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string]Spec{"created": later, "labels": relabelled, "binary": rebuilt} {
		img, err := Build(v)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, img) == digest(t, a) {
			t.Errorf("changing %s left the digest at %s", what, digest(t, a))
		}
	}
}

func TestLayerOrderIndependent(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	files := []File{
		{Path: "/b/x", Mode: 0o644, Data: []byte("x")},
		{Path: "/a", Mode: 0o644, Data: []byte("a")},
		{Path: "/b/c/y", Mode: 0o600, Data: []byte("y")},
	}
	l1, err := Layer(mtime, files)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Layer(mtime, []File{files[2], files[0], files[1]})
	if err != nil {
		t.Fatal(err)
	}
	d1, err := l1.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := l2.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same files in another order: %s vs %s", d1, d2)
	}
	rc, err := l1.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
	}
	want := []string{"a", "b/", "b/c/", "b/c/y", "b/x"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q (parents added, path order)", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for what, mod := range map[string]func(*Spec){
		"Entrypoint":      func(s *Spec) { s.Entrypoint = "app" },
		"Created is zero": func(s *Spec) { s.Created = time.Time{} },
		"no-such-bundle":  func(s *Spec) { s.CABundle = "/no-such-bundle.crt" },
		"no PEM":          func(s *Spec) { s.CABundle = s.Binary },
		"no-such-binary":  func(s *Spec) { s.Binary = "/no-such-binary" },
	} {
		s := testSpec(t)
		mod(&s)
		if _, err := Build(s); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: err %v, want one naming %q", what, err, what)
		}
	}
	if _, err := Layer(time.Now(), []File{{Path: "/a", Data: nil}, {Path: "/a/b"}}); err == nil {
		t.Error("a file under a file: no error")
	}
}

func TestWriteLayoutAndTarball(t *testing.T) {
	img, err := Build(testSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag("voiceassist/app:1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "app")
	// A stale file from an earlier build must not survive.
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "blobs", "sha256", "stale")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(dir, img, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale blob still there: %v", err)
	}
	got, refName, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, got) != digest(t, img) || refName != ref.String() {
		t.Errorf("layout holds %s %q, want %s %q", digest(t, got), refName, digest(t, img), ref)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("image read back from the layout: %v", err)
	}

	file := filepath.Join(t.TempDir(), "app.tar")
	if err := WriteTarball(file, img, ref); err != nil {
		t.Fatal(err)
	}
	tb, err := tarball.ImageFromPath(file, &ref)
	if err != nil {
		t.Fatal(err)
	}
	// The tarball rebuilds the manifest, but config and layers are ours.
	cn, err := tb.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if cn != want {
		t.Errorf("tarball config %s, want %s", cn, want)
	}
}
