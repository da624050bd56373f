// Command images builds the OCI images of voiceassist-server,
// voiceassist-worker, queue-exporter and vactl with go-containerregistry —
// no Docker daemon, no registry. `make images` runs it; it only wires flags
// and git metadata to internal/imagebuild.
//
//	go run ./hack/images [--out _output/images] [--tag T] [--repo voiceassist] [--only NAME,...]
//
// Push a result with `crane push _output/images/NAME REGISTRY/voiceassist/NAME:TAG`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/voiceassist/autoscaling/internal/imagebuild"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./hack/images [flags]

Builds the images %s as OCI image layouts
(OUT/NAME/, push with: crane push OUT/NAME REGISTRY/REPO/NAME:TAG) and docker-load
tarballs (OUT/NAME.tar), and lists "reference digest" in OUT/images.txt.
Reproducible: the created time is SOURCE_DATE_EPOCH, else the HEAD commit's time.

Flags:
`, strings.Join(imagebuild.Names(), ", "))
		fs.PrintDefaults()
	}
	out := fs.String("out", "_output/images", "output `directory`")
	repo := fs.String("repo", imagebuild.DefaultRepo, "image name prefix: REPO/NAME:TAG")
	tag := fs.String("tag", "", "image tag (default: git describe --tags --always --dirty)")
	version := fs.String("version", "", "org.opencontainers.image.version label (default: the tag)")
	source := fs.String("source", imagebuild.DefaultSource, "org.opencontainers.image.source label")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the binaries (GOOS is linux)")
	ca := fs.String("ca-bundle", imagebuild.DefaultCABundle, "PEM CA bundle put into the images (Debian: apt-get install ca-certificates)")
	only := fs.String("only", "", "comma-separated image names to build (default: all)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "images: unexpected arguments %q\n", fs.Args())
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	git, err := imagebuild.ReadGit(ctx, ".", os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		return 1
	}
	o := imagebuild.Options{
		ModuleDir: ".",
		OutDir:    *out,
		Repo:      *repo,
		Tag:       *tag,
		Version:   *version,
		Revision:  git.Revision,
		Source:    *source,
		Created:   git.Created,
		Arch:      *arch,
		CABundle:  *ca,
		Log:       os.Stderr,
	}
	if o.Tag == "" {
		o.Tag = git.Describe
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	results, err := imagebuild.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if oe := (*imagebuild.OptionsError)(nil); errors.As(err, &oe) {
			return 2 // usage: an unknown --only name, a bad --tag, ...
		}
		return 1
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tOCI LAYOUT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Ref, r.Digest, r.Layout)
	}
	tw.Flush()
	return 0
}
