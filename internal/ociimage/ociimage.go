// Package ociimage builds a single-binary OCI image — the layout of
// distroless "static:nonroot", which is also what ko builds — from a static
// executable and its configuration, with go-containerregistry and no Docker
// daemon.
//
// Images are reproducible: the same binary, CA bundle and Spec give the same
// digest. Every file and history entry carries Spec.Created as its time, tar
// entries are written in path order with fixed owners and no user or group
// names, and layers are gzip-compressed by the Go standard library with a
// header that records no time or name.
package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the base layer puts things. Go's crypto/x509 reads CABundlePath
// first on Linux, so TLS to a managed Redis or PostgreSQL verifies with no
// SSL_CERT_FILE.
const (
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
	// NonrootUID and NonrootGID are distroless' "nonroot" user and group.
	NonrootUID = 65532
	NonrootGID = 65532
	// NonrootHome is that user's home directory, owned by it.
	NonrootHome = "/home/nonroot"
)

// Standard OCI annotation keys (image-spec, annotations.md). The image
// carries them both as config labels (what `docker inspect` shows) and as
// manifest annotations (what registries and `crane manifest` show).
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
	LabelLicenses = "org.opencontainers.image.licenses"
)

// Spec is one image: a binary and the configuration it runs with.
type Spec struct {
	// Binary is the path on this machine of a static executable.
	Binary string
	// Entrypoint is the absolute path the binary gets inside the image; it
	// is also the image's entrypoint.
	Entrypoint string
	// Cmd holds default arguments after the entrypoint (optional).
	Cmd []string
	// Env is the environment, "KEY=value" (PATH is added when missing).
	Env []string
	// Created is the image's creation time and the time of every file in
	// it. Take it from SOURCE_DATE_EPOCH or the commit, never the clock, or
	// two builds differ. It is truncated to whole seconds.
	Created time.Time
	// OS and Architecture of the binary, e.g. "linux", "amd64".
	OS, Architecture string
	// CABundle is the path on this machine of a PEM CA bundle (Debian's
	// ca-certificates writes /etc/ssl/certs/ca-certificates.crt), installed at
	// CABundlePath. CABundleOrigin says where it came from, for the image
	// history (e.g. "Debian ca-certificates 20230311+deb12u1").
	CABundle, CABundleOrigin string
	// Labels go into the config's labels and the manifest's annotations;
	// LabelCreated is added from Created.
	Labels map[string]string
}

// Build assembles the image of s: a base layer (CA bundle, /etc/passwd and
// /etc/group naming the nonroot user, /tmp, the nonroot home) shared by every
// image built with the same bundle and time, then a layer with the binary.
// The image runs as NonrootUID:NonrootGID.
func Build(s Spec) (v1.Image, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	created := s.Created.UTC().Truncate(time.Second)

	bundle, err := os.ReadFile(s.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w (on Debian: apt-get install ca-certificates)", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", s.CABundle)
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("binary: %w", err)
	}

	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", NonrootUID, NonrootGID, NonrootHome)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonrootGID)
	base, err := Layer(created, []File{
		{Path: CABundlePath, Mode: 0o644, Data: bundle},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: NonrootHome, Dir: true, Mode: 0o700, UID: NonrootUID, GID: NonrootGID},
	})
	if err != nil {
		return nil, err
	}
	app, err := Layer(created, []File{{Path: s.Entrypoint, Mode: 0o755, Data: bin}})
	if err != nil {
		return nil, err
	}

	origin := s.CABundleOrigin
	if origin == "" {
		origin = s.CABundle
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "ociimage: nonroot user " + fmt.Sprint(NonrootUID) + ", /tmp, " + CABundlePath,
			Comment:   "CA certificates from " + origin,
		}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "ociimage: " + s.Entrypoint,
		}},
	)
	if err != nil {
		return nil, err
	}

	labels := map[string]string{LabelCreated: created.Format(time.RFC3339)}
	for k, v := range s.Labels {
		labels[k] = v
	}
	env := append([]string(nil), s.Env...)
	if !hasKey(env, "PATH") {
		env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS = s.OS
	cf.Architecture = s.Architecture
	cf.Config = v1.Config{
		Entrypoint: []string{s.Entrypoint},
		Cmd:        s.Cmd,
		Env:        env,
		User:       fmt.Sprintf("%d:%d", NonrootUID, NonrootGID),
		WorkingDir: "/",
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels).(v1.Image), nil
}

func (s Spec) validate() error {
	var problems []string
	if s.Binary == "" {
		problems = append(problems, "Binary is empty")
	}
	if !path.IsAbs(s.Entrypoint) || path.Clean(s.Entrypoint) != s.Entrypoint {
		problems = append(problems, fmt.Sprintf("Entrypoint %q is not a clean absolute path", s.Entrypoint))
	}
	if s.Created.IsZero() {
		problems = append(problems, "Created is zero (set it from SOURCE_DATE_EPOCH or the commit time)")
	}
	if s.OS == "" || s.Architecture == "" {
		problems = append(problems, "OS and Architecture are required")
	}
	if s.CABundle == "" {
		problems = append(problems, "CABundle is empty")
	}
	if len(problems) > 0 {
		return fmt.Errorf("image spec for %s: %s", s.Binary, strings.Join(problems, "; "))
	}
	return nil
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// File is one entry of a layer. Parent directories are added (root-owned,
// 0755) when not listed.
type File struct {
	Path     string // absolute, clean
	Dir      bool
	Mode     int64 // permission bits, plus 0o1000 etc. for sticky/setgid
	UID, GID int
	Data     []byte
}

// Layer returns an OCI layer holding files, every entry with time mtime, in
// path order whatever the order of files, so the same files give the same
// digest. The layer caches its gzip output, computed once.
func Layer(mtime time.Time, files []File) (v1.Layer, error) {
	b, err := layerTar(mtime.UTC().Truncate(time.Second), files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func layerTar(mtime time.Time, files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("layer file %q: not a clean absolute path", f.Path)
		}
		if _, dup := entries[f.Path]; dup {
			return nil, fmt.Errorf("layer file %q: listed twice", f.Path)
		}
		entries[f.Path] = f
	}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if e, ok := entries[d]; ok {
				if !e.Dir {
					return nil, fmt.Errorf("layer file %q: parent %q is a file", f.Path, d)
				}
				continue
			}
			entries[d] = File{Path: d, Dir: true, Mode: 0o755}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		f := entries[p]
		h := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: mtime,
			// USTAR holds everything we write; asking for it makes the
			// writer fail rather than silently add PAX records.
			Format: tar.FormatUSTAR,
		}
		if f.Dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer file %q: %w", p, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("layer file %q: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrNotFound is returned by ReadFile when the image has no such file.
var ErrNotFound = errors.New("not in the image")

// ReadFile returns the header and content of one file of img's flattened
// file system (later layers win), for checks and tests: the CA bundle, the
// binary.
func ReadFile(img v1.Image, name string) (*tar.Header, []byte, error) {
	files, err := ReadFiles(img, name)
	if err != nil {
		return nil, nil, err
	}
	return files[0].Header, files[0].Data, nil
}

// FileContent is a file read from an image.
type FileContent struct {
	Header *tar.Header
	Data   []byte
}

// ReadFiles is ReadFile for several files, in one pass over the layers.
func ReadFiles(img v1.Image, names ...string) ([]FileContent, error) {
	want := map[string]int{}
	for i, n := range names {
		want[strings.TrimPrefix(n, "/")] = i
	}
	out := make([]FileContent, len(names))
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := 0
	for found < len(want) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		i, ok := want[strings.TrimSuffix(h.Name, "/")]
		if !ok || out[i].Header != nil {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out[i] = FileContent{Header: h, Data: b}
		found++
	}
	for i, f := range out {
		if f.Header == nil {
			return nil, fmt.Errorf("%s: %w", names[i], ErrNotFound)
		}
	}
	return out, nil
}
