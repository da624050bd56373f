package ociimage

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestUnpack(t *testing.T) {
	s := testSpec(t)
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	// A later layer replacing a file and adding a symlink and a hard link.
	extra, err := Layer(s.Created, []File{{Path: "/etc/motd", Mode: 0o640, Data: []byte("second layer\n")}})
	if err != nil {
		t.Fatal(err)
	}
	links := tarLayer(t,
		&tar.Header{Name: "usr/local/bin/app-link", Typeflag: tar.TypeSymlink, Linkname: "app"},
		&tar.Header{Name: "usr/local/bin/app-hard", Typeflag: tar.TypeLink, Linkname: "/usr/local/bin/app"},
	)
	if img, err = mutate.AppendLayers(img, extra, links); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := Unpack(img, dir); err != nil {
		t.Fatal(err)
	}

	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{
		"usr/local/bin/app":      bin,
		"usr/local/bin/app-link": bin,
		"usr/local/bin/app-hard": bin,
		"etc/motd":               []byte("second layer\n"),
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	for name, want := range map[string]os.FileMode{
		"usr/local/bin/app": 0o755,
		"etc/motd":          0o640,
		"tmp":               os.ModeDir | os.ModeSticky | 0o777,
		NonrootHome[1:]:     os.ModeDir | 0o700,
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeDir | os.ModeSticky); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "usr/local/bin/app-link")); err != nil || target != "app" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(filepath.Join(dir, NonrootHome))
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := owner(fi); uid != NonrootUID || gid != NonrootGID {
			t.Errorf("%s owned by %d:%d, want %d:%d", NonrootHome, uid, gid, NonrootUID, NonrootGID)
		}
	}
}

func TestUnpackStaysInside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	layer := func(hs ...*tar.Header) []v1.Layer { return []v1.Layer{tarLayer(t, hs...)} }
	for _, c := range []struct {
		name   string
		layers []v1.Layer // bottom first
		err    string     // "" when Unpack may succeed as long as nothing lands outside
	}{
		{"dot-dot", layer(&tar.Header{Name: "../outside", Typeflag: tar.TypeReg, Mode: 0o644}), "../outside"},
		// A symlink out of the root in a lower layer, a file through it in
		// an upper one.
		{"through symlink", []v1.Layer{
			tarLayer(t, &tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: base}),
			tarLayer(t, &tar.Header{Name: "escape/outside", Typeflag: tar.TypeReg, Mode: 0o644}),
		}, ""},
		{"device", layer(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}), "image file dev/null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := mutate.AppendLayers(emptyOCI(t), c.layers...)
			if err != nil {
				t.Fatal(err)
			}
			err = Unpack(img, filepath.Join(base, "rootfs-"+strings.ReplaceAll(c.name, " ", "-")))
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("Unpack: %v, want an error naming %q", err, c.err)
			}
			if _, serr := os.Lstat(outside); serr == nil {
				t.Errorf("%s was written outside the root (Unpack: %v)", outside, err)
			}
		})
	}
}

func TestUser(t *testing.T) {
	img, err := Build(testSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	// Build's base layer names the nonroot user and group; a later layer
	// adds an account with a different primary group.
	accounts, err := Layer(time.Unix(0, 0), []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\napp:x:1000:2000::/:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:65532:\nstaff:x:50:\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	withAccounts, err := mutate.AppendLayers(img, accounts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		img      v1.Image
		user     string
		uid, gid int
		err      string
	}{
		{img, "", 0, 0, ""},
		{img, "65532:65532", 65532, 65532, ""},
		{img, "nonroot", 65532, 65532, ""},
		{withAccounts, "app", 1000, 2000, ""},
		{withAccounts, "1000", 1000, 2000, ""},
		{withAccounts, "4321", 4321, 0, ""}, // no passwd entry: group 0
		{withAccounts, "app:staff", 1000, 50, ""},
		{withAccounts, "4321:7", 4321, 7, ""},
		{withAccounts, "nobody", 0, 0, `no user "nobody" in the image's /etc/passwd`},
		{withAccounts, "app:wheel", 0, 0, `no group "wheel" in the image's /etc/group`},
	} {
		im := withUser(t, c.img, c.user)
		uid, gid, err := User(im)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "User "+`"`+c.user+`"`) {
				t.Errorf("User %q: error %v, want one naming the field and %q", c.user, err, c.err)
			}
		case err != nil:
			t.Errorf("User %q: %v", c.user, err)
		case uid != c.uid || gid != c.gid:
			t.Errorf("User %q = %d:%d, want %d:%d", c.user, uid, gid, c.uid, c.gid)
		}
	}
}

func withUser(t *testing.T, img v1.Image, user string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.User = user
	out, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarLayer is a layer of the given entries (regular files are empty).
func tarLayer(t *testing.T, hs ...*tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func emptyOCI(t *testing.T) v1.Image {
	t.Helper()
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

func owner(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
