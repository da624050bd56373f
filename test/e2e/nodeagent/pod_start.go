//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Starting a container: its command line, environment, listen address
// and identity, mapped from the container spec onto a local program.

// logPath is the log file of the container's latest run.
func (c *ctr) logPath() string {
	return filepath.Join(c.w.dir, c.spec.Name, strconv.Itoa(max(c.runs-1, 0))+".log")
}

// startContainer builds the container's command line and environment and
// starts it; on error the container waits with the kubelet's reason.
func (w *podWorker) startContainer(c *ctr) (*process, error) {
	w.mu.Lock()
	p := w.pod.DeepCopy()
	ip := w.ip
	w.mu.Unlock()
	fail := func(reason string, err error) (*process, error) {
		w.mu.Lock()
		if c.waiting == "" || c.waiting == "ContainerCreating" || c.waiting == "PodInitializing" || c.waiting == "CrashLoopBackOff" || c.waitingMsg != err.Error() {
			w.logf("container %s: %s: %v", c.spec.Name, reason, err)
		}
		c.waiting, c.waitingMsg = reason, err.Error()
		w.mu.Unlock()
		w.markDirty()
		return nil, err
	}
	bin, ok := w.a.containerBinary(&c.spec)
	if !ok {
		return fail("ErrImagePull", fmt.Errorf("image %q has no local binary (nodeagent.Agent.Images)", c.spec.Image))
	}
	mounts, err := w.mounts(p, &c.spec)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	ec := &envContext{a: w.a, pod: p, podIP: ip, mounts: mounts}
	vars, env, err := ec.buildEnv(w.ctx, &c.spec, bin)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	argv, err := buildArgv(ec, &c.spec, bin, vars)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	env = listenEnv(env, &c.spec, bin, argv, ip)
	uid, gid, err := runAs(p, &c.spec, bin)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	dir := "/"
	if c.spec.WorkingDir != "" {
		dir = rewritePaths(c.spec.WorkingDir, mounts)
	}

	w.mu.Lock()
	if w.terminating || w.ctx.Err() != nil {
		w.mu.Unlock()
		return nil, context.Canceled
	}
	log := filepath.Join(w.dir, c.spec.Name, strconv.Itoa(c.runs)+".log")
	spec := procSpec{argv: argv, env: env, dir: dir, uid: uid, gid: gid, log: log}
	if w.a.cgroups != nil {
		cg, err := w.a.cgroups.create(string(w.uid), c.spec.Name, c.runs, containerResources(&c.spec))
		if err != nil {
			w.mu.Unlock()
			return fail("RunContainerError", err)
		}
		spec.cgroup, spec.shim = cg, w.a.shim
	}
	proc, err := startProcess(w.a.ns, spec)
	if err != nil {
		if spec.cgroup != nil {
			spec.cgroup.destroy()
		}
		w.mu.Unlock()
		return fail("RunContainerError", err)
	}
	c.cgroup = spec.cgroup
	if c.runs > 0 {
		c.restarts++
	}
	c.runs++
	c.proc = proc
	c.waiting, c.waitingMsg = "", ""
	c.started = c.spec.StartupProbe == nil
	c.ready = false
	w.mu.Unlock()
	w.logf("container %s started: pid %d, %s (log %s)", c.spec.Name, proc.Pid(), strings.Join(redactArgv(argv), " "), proc.Log)
	w.markDirty()
	return proc, nil
}

// redactArgv shortens long arguments (scripts) for the log line.
func redactArgv(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if len(a) > 80 {
			a = a[:40] + "…"
		}
		out[i] = a
	}
	return out
}

// buildArgv maps the container's command and args onto the local program:
// Binary.Path replaces the image's entrypoint (and command[0] when the
// container sets a command); Binary.Args come first; leading container
// args listed in Binary.DropArgs (the image's own command name, as in
// redis' `args: [redis-server, ...]`) are dropped; $(VAR) is expanded;
// Service names and mount paths are rewritten; listen flags without a
// host get the pod's IP.
func buildArgv(ec *envContext, c *corev1.Container, bin Binary, vars map[string]string) ([]string, error) {
	var rest []string
	if len(c.Command) > 0 {
		rest = append(rest, c.Command[1:]...)
	}
	rest = append(rest, c.Args...)
	for i := range rest {
		rest[i] = expand(rest[i], vars)
	}
	for len(rest) > 0 && contains(bin.DropArgs, rest[0]) {
		rest = rest[1:]
	}
	argv := []string{bin.Path}
	for _, a := range bin.Args {
		argv = append(argv, expand(a, vars))
	}
	argv = append(argv, rest...)
	for _, a := range bin.AppendArgs {
		argv = append(argv, expand(a, vars))
	}
	flags := bin.ListenFlags
	for i := 1; i < len(argv); i++ {
		v, err := ec.rewriteServices(argv[i])
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		v = rewritePaths(v, ec.mounts)
		for _, f := range flags {
			for _, dash := range []string{"-", "--"} {
				if name, val, ok := strings.Cut(v, "="); ok && name == dash+f {
					v = name + "=" + listenRewrite(val, ec.podIP)
				} else if v == dash+f && i+1 < len(argv) {
					argv[i+1] = listenRewrite(argv[i+1], ec.podIP)
				}
			}
		}
		argv[i] = v
	}
	return argv, nil
}

// listenEnv points the Binary's listen environment variables at the pod
// IP: when set without a host, or, when neither they nor a listen flag are
// given, at the container's first port.
func listenEnv(env []string, c *corev1.Container, bin Binary, argv []string, ip string) []string {
	if len(bin.ListenEnv) == 0 {
		return env
	}
	flagGiven := false
	for _, a := range argv[1:] {
		for _, f := range bin.ListenFlags {
			if a == "-"+f || a == "--"+f || strings.HasPrefix(a, "-"+f+"=") || strings.HasPrefix(a, "--"+f+"=") {
				flagGiven = true
			}
		}
	}
	for _, name := range bin.ListenEnv {
		found := false
		for i, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				env[i] = k + "=" + listenRewrite(v, ip)
				found = true
			}
		}
		if !found && !flagGiven && len(c.Ports) > 0 {
			env = append(env, name+"="+listenRewrite(":"+strconv.Itoa(int(c.Ports[0].ContainerPort)), ip))
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runAs is the identity a container's process gets: Binary.User if set
// (a program that needs a real local account, like PostgreSQL), else the
// container's or pod's runAsUser/runAsGroup, else root (-1).
func runAs(p *corev1.Pod, c *corev1.Container, bin Binary) (uid, gid int, err error) {
	if bin.User != "" {
		u, err := user.Lookup(bin.User)
		if err != nil {
			return 0, 0, fmt.Errorf("local user %q for image %s: %w", bin.User, c.Image, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		return uid, gid, nil
	}
	uid, gid = -1, -1
	if sc := p.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = int(*sc.RunAsGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = int(*sc.RunAsGroup)
		}
	}
	uid, gid = bin.imageUser(uid, gid) // an OCI image's User when the pod sets no runAsUser
	if uid >= 0 && gid < 0 {
		gid = uid
	}
	if uid < 0 && gid >= 0 {
		uid = 0
	}
	return uid, gid, nil
}
