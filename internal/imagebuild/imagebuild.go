// Package imagebuild builds this project's release images — what
// `make images` runs: the four commands compiled as static, trimmed Linux
// binaries, each put into a single-binary OCI image by internal/ociimage,
// written as an OCI image layout (for `crane push`) and a `docker load`
// tarball.
package imagebuild

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// Image is one image `make images` builds: voiceassist/<Name>, from the main
// package ./cmd/<Name>, run as /usr/local/bin/<Name>.
type Image struct {
	Name string
}

// Images are the images, in the order they are reported. The manifests in
// k8s/performance run the first three; vactl's image is for running vactl
// in a cluster (a CI job, a Kubernetes Job).
var Images = []Image{
	{Name: "voiceassist-server"},
	{Name: "voiceassist-worker"},
	{Name: "queue-exporter"},
	{Name: "vactl"},
}

// Package returns the main package of im, relative to the module root.
func (im Image) Package() string { return "./cmd/" + im.Name }

// Entrypoint returns where the binary is inside the image.
func (im Image) Entrypoint() string { return "/usr/local/bin/" + im.Name }

// Defaults for Options.
const (
	DefaultRepo     = "voiceassist"
	DefaultSource   = "https://github.com/voiceassist/autoscaling"
	DefaultCABundle = ociimage.CABundlePath // where Debian's ca-certificates puts it
	License         = "Apache-2.0"
)

// Options say what to build and where.
type Options struct {
	// ModuleDir is the root of this module (the directory of go.mod).
	ModuleDir string
	// OutDir receives <name>/ (OCI layout), <name>.tar and images.txt.
	OutDir string
	// Repo prefixes every image name: <Repo>/<name>:<Tag>.
	Repo string
	// Tag is every image's tag; Version (default: Tag), Revision and Source
	// go into the OCI labels.
	Tag, Version, Revision, Source string
	// Created is the images' creation time and their files' mtime.
	Created time.Time
	// Arch is the GOARCH of the binaries (GOOS is linux).
	Arch string
	// CABundle is the host's CA bundle put into every image.
	CABundle string
	// Only, when not empty, limits the build to these image names.
	Only []string
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// Result is one image built.
type Result struct {
	Image   Image
	Ref     name.Tag
	Digest  v1.Hash
	Layout  string // the OCI image layout directory
	Tarball string // the `docker load` tarball
}

// Build compiles the binaries with one `go build` (it shares the build cache
// and links in parallel), checks they are static, builds the images and
// writes them under o.OutDir.
func Build(ctx context.Context, o Options) ([]Result, error) {
	images, err := o.validate()
	if err != nil {
		return nil, err
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp(o.OutDir, ".bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)

	start := time.Now()
	if err := goBuild(ctx, o.ModuleDir, binDir, o.Arch, images); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "images: built %d binaries for linux/%s in %s\n", len(images), o.Arch, time.Since(start).Round(100*time.Millisecond))

	origin := caBundleOrigin(ctx, o.CABundle)
	version := o.Version
	if version == "" {
		version = o.Tag
	}
	results := make([]Result, len(images))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, im := range images {
		g.Go(func() error {
			bin := filepath.Join(binDir, im.Name)
			if err := CheckStatic(bin); err != nil {
				return err
			}
			ref, err := name.NewTag(o.Repo + "/" + im.Name + ":" + o.Tag)
			if err != nil {
				return fmt.Errorf("image %s: %w", im.Name, err)
			}
			img, err := ociimage.Build(ociimage.Spec{
				Binary:         bin,
				Entrypoint:     im.Entrypoint(),
				Created:        o.Created,
				OS:             "linux",
				Architecture:   o.Arch,
				CABundle:       o.CABundle,
				CABundleOrigin: origin,
				Labels: map[string]string{
					ociimage.LabelSource:   o.Source,
					ociimage.LabelRevision: o.Revision,
					ociimage.LabelVersion:  version,
					ociimage.LabelTitle:    im.Name,
					ociimage.LabelLicenses: License,
				},
			})
			if err != nil {
				return fmt.Errorf("image %s: %w", im.Name, err)
			}
			r := Result{Image: im, Ref: ref, Layout: filepath.Join(o.OutDir, im.Name), Tarball: filepath.Join(o.OutDir, im.Name+".tar")}
			if r.Digest, err = img.Digest(); err != nil {
				return fmt.Errorf("image %s: %w", im.Name, err)
			}
			if err := ociimage.WriteLayout(r.Layout, img, ref); err != nil {
				return err
			}
			if err := ociimage.WriteTarball(r.Tarball, img, ref); err != nil {
				return err
			}
			results[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// images.txt: one "reference digest" line per image, for scripts and
	// for `kustomize edit set image NAME=REF@DIGEST`.
	var list bytes.Buffer
	for _, r := range results {
		fmt.Fprintf(&list, "%s %s\n", r.Ref, r.Digest)
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "images.txt"), list.Bytes(), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "images: %d images in %s\n", len(results), time.Since(start).Round(100*time.Millisecond))
	return results, nil
}

func (o Options) validate() ([]Image, error) {
	var problems []string
	if o.ModuleDir == "" || o.OutDir == "" {
		problems = append(problems, "module and output directories are required")
	}
	if o.Repo == "" || o.Tag == "" {
		problems = append(problems, "repository and tag are required")
	} else if _, err := name.NewTag(o.Repo + "/x:" + o.Tag); err != nil {
		problems = append(problems, fmt.Sprintf("repository %q and tag %q do not form an image reference: %v", o.Repo, o.Tag, err))
	}
	if o.Created.IsZero() {
		problems = append(problems, "created time is required (SOURCE_DATE_EPOCH or the commit time)")
	}
	if o.Arch == "" || o.Source == "" || o.Revision == "" || o.CABundle == "" {
		problems = append(problems, "architecture, source, revision and CA bundle are required")
	}
	images := Images
	if len(o.Only) > 0 {
		images = nil
		for _, n := range o.Only {
			i := slices.IndexFunc(Images, func(im Image) bool { return im.Name == n })
			if i < 0 {
				problems = append(problems, fmt.Sprintf("unknown image %q (want one of %s)", n, strings.Join(Names(), ", ")))
				continue
			}
			images = append(images, Images[i])
		}
	}
	if len(problems) > 0 {
		return nil, &OptionsError{Problems: problems}
	}
	return images, nil
}

// OptionsError is Build's error for options that cannot work (an unknown
// image name, a bad tag, a missing created time): the caller's input, not
// a failed build, so a command exits 2 for it.
type OptionsError struct {
	Problems []string
}

func (e *OptionsError) Error() string { return "images: " + strings.Join(e.Problems, "; ") }

// Names returns the names of Images.
func Names() []string {
	var n []string
	for _, im := range Images {
		n = append(n, im.Name)
	}
	return n
}

// goBuild runs one `go build` for all images: no cgo (static binaries that
// need no libc in the image), -trimpath (no build-machine paths, so the
// binary does not depend on where the checkout is), symbol tables and DWARF
// stripped (smaller images; panics still print stack traces).
func goBuild(ctx context.Context, moduleDir, outDir, arch string, images []Image) error {
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", outDir + string(filepath.Separator)}
	for _, im := range images {
		args = append(args, im.Package())
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), moduleDir, err, stderr.Bytes())
	}
	return nil
}

// CheckStatic fails unless bin is an ELF executable without a dynamic
// loader or shared libraries: the image has no libc to load.
func CheckStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("binary %s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked (it has an ELF interpreter); build it with CGO_ENABLED=0", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("binary %s needs shared libraries %s; build it with CGO_ENABLED=0", bin, strings.Join(libs, ", "))
	}
	return nil
}

// caBundleOrigin names the Debian package and version that installed the
// bundle, for the image history; the bundle's path when dpkg does not know.
func caBundleOrigin(ctx context.Context, bundle string) string {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", "ca-certificates").Output()
	if err != nil || bundle != DefaultCABundle || len(bytes.TrimSpace(out)) == 0 {
		return bundle
	}
	return "Debian ca-certificates " + strings.TrimSpace(string(out))
}

// Git describes the checkout at dir for the defaults of Options: Tag from
// `git describe --tags --always --dirty`, Revision the HEAD commit, and
// Created from SOURCE_DATE_EPOCH when set (the reproducible-builds.org
// convention), else the HEAD commit's time — never the clock.
type Git struct {
	Describe, Revision string
	Created            time.Time
}

// ReadGit reads Git for dir; getenv is os.Getenv outside tests.
func ReadGit(ctx context.Context, dir string, getenv func(string) string) (Git, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s (in %s): %w: %s", strings.Join(args, " "), dir, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	var g Git
	var err error
	if g.Revision, err = git("rev-parse", "HEAD"); err != nil {
		return g, err
	}
	if g.Describe, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
		return g, err
	}
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return g, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want whole seconds since 1970-01-01 UTC", s)
		}
		g.Created = time.Unix(sec, 0).UTC()
		return g, nil
	}
	ct, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return g, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return g, fmt.Errorf("git log: commit time %q: %w", ct, err)
	}
	g.Created = time.Unix(sec, 0).UTC()
	return g, nil
}
