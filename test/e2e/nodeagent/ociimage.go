package nodeagent

// Running a container from an OCI image: the image's program and config
// (entrypoint, cmd, env, user) on the agent's processes. No build tag: the
// unit test of this file runs in `make test`.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// OCIImage is the image a Binary runs: its config and its file system
// unpacked on this machine. The process is not chrooted (pods share the
// host's file system, rewritten mount paths included): the image's files
// serve to find its programs, which then run as they would in a container.
type OCIImage struct {
	// Ref is the reference the OCI layout names, e.g.
	// voiceassist/queue-exporter:v1.2.0-3-gabcdef0.
	Ref string
	// Digest is the manifest digest: what `crane push` of the layout gives
	// the registry and `make images` lists in images.txt.
	Digest string
	// Rootfs is where the image's file system is unpacked.
	Rootfs string
	// Entrypoint, Cmd and Env are the image config's.
	Entrypoint, Cmd, Env []string
	// UID and GID are the config's User, resolved against the image's
	// /etc/passwd and /etc/group.
	UID, GID int
}

// ID is what the agent reports as a container's imageID: the image's
// repository and manifest digest, as a kubelet reports a pulled image.
func (o *OCIImage) ID() string {
	repo := o.Ref
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + o.Digest
}

// ImageBinary reads the one image of the OCI image layout at layoutDir (as
// `make images` writes them), unpacks its file system into rootfs (made
// world-readable: pods run as their own users) and returns the Binary that
// runs it: the image's entrypoint found in rootfs, its Cmd as default
// arguments, its Env under the pod's, its User unless the pod sets
// runAsUser. ForContainer applies a container's command and args.
//
// The image's WorkingDir must be "/" (or empty): the processes are not
// chrooted, and the agent starts them in the host's / unless the
// container sets workingDir.
func ImageBinary(layoutDir, rootfs string) (Binary, error) {
	img, ref, err := ociimage.ReadLayout(layoutDir)
	if err != nil {
		return Binary{}, err
	}
	fail := func(format string, a ...any) (Binary, error) {
		return Binary{}, fmt.Errorf("image %s (OCI layout %s): %s", ref, layoutDir, fmt.Sprintf(format, a...))
	}
	digest, err := img.Digest()
	if err != nil {
		return fail("%v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail("config: %v", err)
	}
	cfg := cf.Config
	if cfg.WorkingDir != "" && cfg.WorkingDir != "/" {
		return fail("config WorkingDir %q: the node agent runs processes in the host's / (no chroot), so only / is supported", cfg.WorkingDir)
	}
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return fail("config has neither Entrypoint nor Cmd: nothing to run")
	}
	uid, gid, err := ociimage.User(img)
	if err != nil {
		return fail("%v", err)
	}
	if err := ociimage.Unpack(img, rootfs); err != nil {
		return fail("%v", err)
	}
	if err := os.Chmod(rootfs, 0o755); err != nil {
		return fail("%v", err)
	}
	o := &OCIImage{
		Ref: ref, Digest: digest.String(), Rootfs: rootfs,
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
		UID: uid, GID: gid,
	}
	env := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// The Binary without a container's command or args: the image's own
	// entrypoint and cmd.
	b := Binary{Env: env, Image: o}.ForContainer(&corev1.Container{})
	if _, err := os.Stat(b.Path); err != nil {
		return fail("entrypoint: %v", err)
	}
	return b, nil
}

// ForContainer is b for container c, as a container runtime reads an
// image: c's command replaces the image's Entrypoint and drops its Cmd;
// c's args replace Cmd; without an Entrypoint the first word of the args
// (or of Cmd) is the program. A program name is looked up in the image's
// file system, a bare name in the directories of the image's PATH;
// symlinks resolve inside the image. A program the image lacks becomes a
// path in rootfs that does not exist, so the start fails
// (RunContainerError) naming it, as a runtime fails for a missing
// executable. Binaries that are not images are returned as they are.
func (b Binary) ForContainer(c *corev1.Container) Binary {
	o := b.Image
	if o == nil {
		return b
	}
	b.Args, b.DropArgs = nil, nil
	var argv []string
	switch {
	case len(c.Command) > 0:
		// buildArgv appends command[1:] and the args.
		argv = c.Command[:1]
	case len(o.Entrypoint) > 0 && len(c.Args) > 0:
		argv = o.Entrypoint
	case len(o.Entrypoint) > 0:
		argv = append(append([]string(nil), o.Entrypoint...), o.Cmd...)
	case len(c.Args) > 0:
		// args[0] is the program: drop it from what buildArgv appends.
		argv = c.Args[:1]
		b.DropArgs = []string{c.Args[0]}
	default:
		argv = o.Cmd
	}
	if len(argv) == 0 {
		b.Path = "" // nothing to run: the start fails with "no command"
		return b
	}
	b.Path = o.program(argv[0])
	b.Args = append([]string(nil), argv[1:]...)
	return b
}

// program is where the image's program name is on this machine.
func (o *OCIImage) program(name string) string {
	if strings.Contains(name, "/") {
		p, err := securejoin.SecureJoin(o.Rootfs, path.Join("/", name))
		if err != nil {
			return filepath.Join(o.Rootfs, path.Clean("/"+name))
		}
		return p
	}
	dirs := filepath.SplitList(envValue(o.Env, "PATH"))
	for _, dir := range dirs {
		p, err := securejoin.SecureJoin(o.Rootfs, path.Join("/", dir, name))
		if err != nil {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	first := "/"
	if len(dirs) > 0 {
		first = dirs[0]
	}
	return filepath.Join(o.Rootfs, path.Join("/", first, name))
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// imageUser fills in the identity a pod's securityContext left unset (-1)
// from the image's User: runAsUser overrides the image's user, runAsGroup
// its group. Binaries that are not images change nothing.
func (b Binary) imageUser(uid, gid int) (int, int) {
	if b.Image == nil || uid >= 0 {
		return uid, gid
	}
	if gid < 0 {
		gid = b.Image.GID
	}
	return b.Image.UID, gid
}

// BuildImages builds the images of voiceassist-server, voiceassist-worker
// and queue-exporter exactly as `make images` does (`go run ./hack/images`
// in repoRoot: the same static binaries, base layer, config and labels,
// the tag from `git describe`) into dir/images, unpacks each into
// dir/rootfs/<name> and returns their Binaries by repository
// (voiceassist/<name>), listen flag and variable rewritten to the pod IP.
// Go's build cache makes a repeat cheap (docs/local-cluster.md has the
// times).
func BuildImages(ctx context.Context, repoRoot, dir string, logf func(string, ...any)) (map[string]Binary, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	repos := make([]string, 0, len(voiceAssistImages))
	names := make([]string, 0, len(voiceAssistImages))
	for repo, name := range voiceAssistImages {
		repos = append(repos, repo)
		names = append(names, name)
	}
	sort.Strings(repos)
	sort.Strings(names)
	out := filepath.Join(dir, "images")
	args := []string{"run", "./hack/images", "--out", out, "--only", strings.Join(names, ",")}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), repoRoot, err, stderr.Bytes())
	}
	logf("nodeagent: built the images in %.1fs (go run ./hack/images, as make images):\n%s%s",
		time.Since(start).Seconds(), stderr.Bytes(), stdout.Bytes())

	bins := map[string]Binary{}
	for _, repo := range repos {
		name := voiceAssistImages[repo]
		b, err := ImageBinary(filepath.Join(out, name), filepath.Join(dir, "rootfs", name))
		if err != nil {
			return nil, err
		}
		b.ListenFlags, b.ListenEnv = []string{"listen", "metrics-listen"}, []string{"LISTEN_ADDR"}
		bins[repo] = b
		logf("nodeagent: %s runs image %s: entrypoint %s, user %d:%d, env %q",
			repo, b.Image.ID(), b.Path, b.Image.UID, b.Image.GID, b.Image.Env)
	}
	return bins, nil
}
