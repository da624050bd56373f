//go:build e2e

package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podWorker runs one pod: its IP, volumes, init containers, containers,
// probes, status and termination.
type podWorker struct {
	a   *Agent
	uid types.UID
	key string // namespace/name
	dir string

	ctx    context.Context // ends when the pod's containers must stop
	cancel context.CancelFunc
	dirty  chan struct{}
	done   chan struct{} // closed when stop has finished
	wg     sync.WaitGroup

	mu          sync.Mutex
	pod         *corev1.Pod
	ip          string
	startTime   metav1.Time
	sandboxOK   bool
	setupErr    string
	inits, ctrs []*ctr
	initDone    bool
	initFailed  bool
	terminating bool
	stopped     bool
	sent        *corev1.PodStatus // last status written
	stopOnce    sync.Once
}

// ctr is one container's state.
type ctr struct {
	w        *podWorker
	spec     corev1.Container
	init     bool
	proc     *process
	runs     int // processes started so far
	restarts int32
	// waiting is the reason while no process runs (ContainerCreating,
	// CrashLoopBackOff, CreateContainerConfigError, ErrImagePull, ...).
	waiting, waitingMsg string
	term, prevTerm      *corev1.ContainerStateTerminated
	ready, started      bool
	final               bool // terminated and will not run again
}

func newPodWorker(a *Agent, p *corev1.Pod) *podWorker {
	ctx, cancel := context.WithCancel(a.ctx)
	w := &podWorker{
		a: a, uid: p.UID, key: p.Namespace + "/" + p.Name, pod: p.DeepCopy(),
		dir:    filepath.Join(a.Dir, "pods", p.Namespace+"_"+p.Name+"_"+string(p.UID)),
		ctx:    ctx,
		cancel: cancel,
		dirty:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	w.startTime = metav1.Now()
	for _, c := range p.Spec.InitContainers {
		w.inits = append(w.inits, &ctr{w: w, spec: c, init: true, waiting: "PodInitializing"})
	}
	for _, c := range p.Spec.Containers {
		reason := "ContainerCreating"
		if len(p.Spec.InitContainers) > 0 {
			reason = "PodInitializing"
		}
		w.ctrs = append(w.ctrs, &ctr{w: w, spec: c, waiting: reason})
	}
	if len(w.inits) > 0 {
		w.inits[0].waiting = "ContainerCreating"
	}
	return w
}

func (w *podWorker) logf(format string, args ...any) {
	w.a.logf("pod %s: "+format, append([]any{w.key}, args...)...)
}

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWorker) update(p *corev1.Pod) {
	w.mu.Lock()
	w.pod = p.DeepCopy()
	terminating := p.DeletionTimestamp != nil
	w.mu.Unlock()
	if terminating {
		grace := w.gracePeriod()
		w.a.wg.Add(1)
		go func() {
			defer w.a.wg.Done()
			w.stop(grace, true)
		}()
	}
}

// gracePeriod is the deletion's grace period if the pod is being deleted,
// else its terminationGracePeriodSeconds (default 30 s).
func (w *podWorker) gracePeriod() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// run brings the pod up; the containers then run on their own goroutines
// until stop.
func (w *podWorker) run() {
	w.a.wg.Add(1)
	go func() {
		defer w.a.wg.Done()
		w.statusLoop()
	}()
	w.markDirty()
	for {
		err := w.setup()
		if err == nil {
			break
		}
		w.mu.Lock()
		w.setupErr = err.Error()
		w.mu.Unlock()
		w.markDirty()
		w.logf("setup: %v", err)
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	w.mu.Lock()
	w.setupErr = ""
	w.sandboxOK = true
	w.mu.Unlock()
	w.markDirty()

	for i, c := range w.inits {
		if !w.runInit(c) {
			return
		}
		if i+1 < len(w.inits) {
			w.mu.Lock()
			w.inits[i+1].waiting = "ContainerCreating"
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	w.initDone = true
	for _, c := range w.ctrs {
		c.waiting = "ContainerCreating"
	}
	w.mu.Unlock()
	w.markDirty()
	for _, c := range w.ctrs {
		w.mu.Lock()
		if w.terminating {
			w.mu.Unlock()
			return
		}
		w.wg.Add(1)
		w.mu.Unlock()
		go func() {
			defer w.wg.Done()
			w.runContainer(c)
		}()
	}
}

// setup gives the pod its IP and volume directories.
func (w *podWorker) setup() error {
	w.mu.Lock()
	p := w.pod.DeepCopy()
	w.mu.Unlock()
	if w.ip == "" {
		if p.Spec.HostNetwork {
			w.ip = w.a.NodeIP
		} else {
			ip, err := w.a.allocateIP(p)
			if err != nil {
				return err
			}
			w.mu.Lock()
			w.ip = ip
			w.mu.Unlock()
		}
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	return w.prepareVolumes(p)
}

// runInit runs an init container to completion; false when the pod must
// not go on (stopped, or failed for good).
func (w *podWorker) runInit(c *ctr) bool {
	backoff := w.a.RestartBackoff
	for {
		p, err := w.startContainer(c)
		if err != nil {
			if !w.sleep(2 * time.Second) {
				return false
			}
			continue
		}
		select {
		case <-p.done:
		case <-w.ctx.Done():
			<-p.done
			return false
		}
		w.finished(c, p)
		if p.exitCode == 0 {
			w.mu.Lock()
			c.final = true
			w.mu.Unlock()
			w.markDirty()
			return true
		}
		if w.restartPolicy() == corev1.RestartPolicyNever {
			w.mu.Lock()
			c.final, w.initFailed = true, true
			w.mu.Unlock()
			w.markDirty()
			return false
		}
		if !w.backoff(c, &backoff) {
			return false
		}
	}
}

func (w *podWorker) runContainer(c *ctr) {
	backoff := w.a.RestartBackoff
	for {
		p, err := w.startContainer(c)
		if err != nil {
			var ce *configError
			delay := 2 * time.Second
			if !errors.As(err, &ce) {
				delay = backoff
			}
			if !w.sleep(delay) {
				return
			}
			continue
		}
		pctx, cancel := context.WithCancel(w.ctx)
		go w.probe(pctx, c, p)
		<-p.done
		cancel()
		w.finished(c, p)
		if w.ctx.Err() != nil {
			return
		}
		switch w.restartPolicy() {
		case corev1.RestartPolicyNever:
			w.setFinal(c)
			return
		case corev1.RestartPolicyOnFailure:
			if p.exitCode == 0 {
				w.setFinal(c)
				return
			}
		}
		if p.finished.Sub(p.started) > 10*time.Minute {
			backoff = w.a.RestartBackoff
		}
		if !w.backoff(c, &backoff) {
			return
		}
	}
}

func (w *podWorker) setFinal(c *ctr) {
	w.mu.Lock()
	c.final = true
	w.mu.Unlock()
	w.markDirty()
}

// backoff waits before a restart in CrashLoopBackOff.
func (w *podWorker) backoff(c *ctr, d *time.Duration) bool {
	w.mu.Lock()
	c.waiting = "CrashLoopBackOff"
	c.waitingMsg = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", *d, c.spec.Name, w.pod.Name, w.pod.Namespace, w.uid)
	w.mu.Unlock()
	w.markDirty()
	ok := w.sleep(*d)
	*d = min(*d*2, w.a.MaxRestartBackoff)
	return ok
}

func (w *podWorker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *podWorker) restartPolicy() corev1.RestartPolicy {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod.Spec.RestartPolicy == "" {
		return corev1.RestartPolicyAlways
	}
	return w.pod.Spec.RestartPolicy
}

// finished records a process's exit.
func (w *podWorker) finished(c *ctr, p *process) {
	reason := "Completed"
	if p.exitCode != 0 {
		reason = "Error"
	}
	w.mu.Lock()
	c.prevTerm = c.term
	c.term = &corev1.ContainerStateTerminated{
		ExitCode:    p.exitCode,
		Signal:      int32(p.signal),
		Reason:      reason,
		StartedAt:   metav1.NewTime(p.started),
		FinishedAt:  metav1.NewTime(p.finished),
		ContainerID: containerID(p),
	}
	c.ready, c.started = false, false
	w.mu.Unlock()
	w.logf("container %s exited with %d", c.spec.Name, p.exitCode)
	w.markDirty()
}

func containerID(p *process) string { return "nodeagent://" + strconv.Itoa(p.pid) }

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
	proc, err := startProcess(w.a.ns, procSpec{argv: argv, env: env, dir: dir, uid: uid, gid: gid, log: log})
	if err != nil {
		w.mu.Unlock()
		return fail("RunContainerError", err)
	}
	if c.runs > 0 {
		c.restarts++
	}
	c.runs++
	c.proc = proc
	c.waiting, c.waitingMsg = "", ""
	c.started = c.spec.StartupProbe == nil
	c.ready = false
	w.mu.Unlock()
	w.logf("container %s started: pid %d, %s (log %s)", c.spec.Name, proc.pid, strings.Join(redactArgv(argv), " "), proc.log)
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

// --- probes -------------------------------------------------------------------

// probe runs the container's startup, readiness and liveness probes until
// the process exits.
func (w *podWorker) probe(ctx context.Context, c *ctr, p *process) {
	spec := c.spec
	startedCh := make(chan struct{})
	if spec.StartupProbe == nil {
		close(startedCh)
	} else {
		go func() {
			st := newProbeState(spec.StartupProbe, false)
			w.probeLoop(ctx, spec.StartupProbe, &spec, p, func(r probeResult) bool {
				st.observe(r.ok)
				if st.result {
					w.mu.Lock()
					c.started = true
					w.mu.Unlock()
					w.markDirty()
					close(startedCh)
					return false
				}
				if st.failures >= max(spec.StartupProbe.FailureThreshold, 1) {
					w.logf("container %s failed its startup probe: %s; killing it", spec.Name, r.msg)
					go p.terminate(w.probeGrace(spec.StartupProbe))
					return false
				}
				return true
			})
		}()
	}
	if spec.ReadinessProbe == nil {
		go func() {
			select {
			case <-startedCh:
				w.mu.Lock()
				if c.proc == p && !p.exited() {
					c.ready = true
				}
				w.mu.Unlock()
				w.markDirty()
			case <-ctx.Done():
			}
		}()
	} else {
		go func() {
			select {
			case <-startedCh:
			case <-ctx.Done():
				return
			}
			st := newProbeState(spec.ReadinessProbe, false)
			w.probeLoop(ctx, spec.ReadinessProbe, &spec, p, func(r probeResult) bool {
				if st.observe(r.ok) {
					w.mu.Lock()
					c.ready = st.result && c.proc == p
					w.mu.Unlock()
					if !st.result {
						w.logf("container %s not ready: %s", spec.Name, r.msg)
					}
					w.markDirty()
				}
				return true
			})
		}()
	}
	if spec.LivenessProbe != nil {
		go func() {
			select {
			case <-startedCh:
			case <-ctx.Done():
				return
			}
			st := newProbeState(spec.LivenessProbe, true)
			w.probeLoop(ctx, spec.LivenessProbe, &spec, p, func(r probeResult) bool {
				if st.observe(r.ok) && !st.result {
					w.logf("container %s failed its liveness probe: %s; restarting it", spec.Name, r.msg)
					go p.terminate(w.probeGrace(spec.LivenessProbe))
					return false
				}
				return true
			})
		}()
	}
}

func (w *podWorker) probeGrace(pr *corev1.Probe) time.Duration {
	if pr.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// probeLoop waits the initial delay (from the process's start), then
// probes every period until fn returns false or ctx ends.
func (w *podWorker) probeLoop(ctx context.Context, pr *corev1.Probe, c *corev1.Container, p *process, fn func(probeResult) bool) {
	delay := time.Until(p.started.Add(time.Duration(pr.InitialDelaySeconds) * time.Second))
	if delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	t := time.NewTicker(probePeriod(pr))
	defer t.Stop()
	for {
		r := w.a.prober.run(ctx, pr, c, w.ip)
		if ctx.Err() != nil {
			return
		}
		if !fn(r) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// --- stopping -------------------------------------------------------------------

// stop ends the pod's containers: SIGTERM to each process group, SIGKILL
// after grace. With del it then deletes the pod from the API with grace 0,
// as the kubelet does at the end of a graceful deletion.
func (w *podWorker) stop(grace time.Duration, del bool) {
	w.stopOnce.Do(func() {
		start := time.Now()
		w.mu.Lock()
		w.terminating = true
		w.cancel()
		var procs []*process
		for _, c := range append(append([]*ctr(nil), w.inits...), w.ctrs...) {
			if c.proc != nil && !c.proc.exited() {
				procs = append(procs, c.proc)
			}
		}
		w.mu.Unlock()
		if len(procs) > 0 {
			w.logf("stopping: SIGTERM to %d container(s), SIGKILL after %s", len(procs), grace)
		}
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.terminate(grace)
			}()
		}
		wg.Wait()
		w.wg.Wait()
		w.logf("stopped in %.1fs", time.Since(start).Seconds())
		// The final status (containers terminated, not ready), then the
		// delete. On agent shutdown neither: as when a kubelet stops, the
		// pods stay as they were until the node controller acts (or an
		// agent with the same node name starts them again).
		if del {
			w.writeStatus(context.Background())
		}
		w.mu.Lock()
		p := w.pod.DeepCopy()
		w.stopped = true
		w.mu.Unlock()
		if del {
			w.a.deletePod(p)
		}
		w.a.releaseIP(w.ip, w.uid)
		close(w.done)
	})
	<-w.done
}

// --- status -------------------------------------------------------------------

func (w *podWorker) statusLoop() {
	for {
		select {
		case <-w.done:
			return
		case <-w.a.ctx.Done():
			return
		case <-w.dirty:
		}
		w.writeStatus(w.a.ctx)
		// Coalesce bursts of changes.
		select {
		case <-w.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeStatus sends the pod's status if it changed since the last write.
func (w *podWorker) writeStatus(ctx context.Context) {
	if ctx.Err() != nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	pod := w.pod.DeepCopy()
	st := w.status(&pod.Status)
	if w.sent != nil && apiequality.Semantic.DeepEqual(*w.sent, st) {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	pods := w.a.Client.CoreV1().Pods(pod.Namespace)
	for attempt := 0; attempt < 5; attempt++ {
		pod.Status = st
		_, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			w.mu.Lock()
			w.sent = &st
			w.mu.Unlock()
			return
		}
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			return
		}
		if !apierrors.IsConflict(err) {
			w.logf("status: %v", err)
			return
		}
		fresh, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil || fresh.UID != w.uid {
			return
		}
		pod = fresh
		w.mu.Lock()
		st = w.status(&fresh.Status)
		w.mu.Unlock()
	}
}

// status computes the pod's status from what runs; old supplies
// conditions' transition times and the fields the agent does not own.
// Called with w.mu held.
func (w *podWorker) status(old *corev1.PodStatus) corev1.PodStatus {
	st := corev1.PodStatus{
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
		HostIP:            w.a.NodeIP,
		HostIPs:           []corev1.HostIP{{IP: w.a.NodeIP}},
		StartTime:         &w.startTime,
	}
	if w.ip != "" {
		st.PodIP = w.ip
		st.PodIPs = []corev1.PodIP{{IP: w.ip}}
	}
	for _, c := range w.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status())
	}
	allReady := true
	var notReady []string
	for _, c := range w.ctrs {
		cs := c.status()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, c.spec.Name)
		}
	}
	st.Phase = w.phase()

	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s, reason, msg = corev1.ConditionTrue, "", ""
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
				c.LastProbeTime = o.LastProbeTime
			}
		}
		return c
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	notReadyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	reason := "ContainersNotReady"
	if terminal {
		reason = "PodCompleted"
	}
	var initMsg string
	if !w.initDone {
		var names []string
		for _, c := range w.inits {
			if !c.final || c.term == nil || c.term.ExitCode != 0 {
				names = append(names, c.spec.Name)
			}
		}
		initMsg = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(names, " "))
	}
	ready := allReady && !terminal && w.readinessGatesOK(old)
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, w.sandboxOK && !terminal, "", ""),
		cond(corev1.PodInitialized, w.initDone || len(w.inits) == 0, "ContainersNotInitialized", initMsg),
		cond(corev1.ContainersReady, allReady && !terminal, reason, notReadyMsg),
		cond(corev1.PodReady, ready, reason, notReadyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	// Keep conditions others own (DisruptionTarget, readiness gates' types).
	for _, o := range old.Conditions {
		switch o.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled:
		default:
			st.Conditions = append(st.Conditions, o)
		}
	}
	if w.setupErr != "" {
		st.Message = w.setupErr
	}
	return st
}

func (w *podWorker) readinessGatesOK(old *corev1.PodStatus) bool {
	for _, g := range w.pod.Spec.ReadinessGates {
		ok := false
		for _, c := range old.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// phase follows the kubelet's rules, simplified: Pending until every
// container has run once; Running while any runs or will restart;
// Succeeded/Failed when all have terminated for good (or the pod was
// stopped). Called with w.mu held.
func (w *podWorker) phase() corev1.PodPhase {
	if w.initFailed {
		return corev1.PodFailed
	}
	if !w.initDone && !w.stopped && !w.terminating {
		return corev1.PodPending
	}
	running, final, failed, never := 0, 0, 0, 0
	for _, c := range w.ctrs {
		switch {
		case c.proc != nil && !c.proc.exited():
			running++
		case c.final || (w.terminating && c.term != nil):
			final++
			if c.term != nil && c.term.ExitCode != 0 {
				failed++
			}
		case c.runs == 0:
			never++
		default: // between restarts
			running++
		}
	}
	switch {
	case running > 0:
		return corev1.PodRunning
	case never > 0 && !w.terminating:
		return corev1.PodPending
	case w.terminating && never > 0:
		return corev1.PodFailed
	case failed > 0:
		return corev1.PodFailed
	case final > 0:
		return corev1.PodSucceeded
	}
	return corev1.PodPending
}

// status is the container's status. Called with w.mu held.
func (c *ctr) status() corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		ImageID:      c.w.a.imageID(c.spec.Image),
		RestartCount: c.restarts,
		Ready:        c.ready,
	}
	started := c.started
	cs.Started = &started
	running := c.proc != nil && !c.proc.exited()
	switch {
	case c.waiting != "" && !running:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting, Message: c.waitingMsg}
		if c.term != nil {
			cs.LastTerminationState.Terminated = c.term
		}
	case running:
		cs.ContainerID = containerID(c.proc)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.proc.started)}
		if c.term != nil {
			cs.LastTerminationState.Terminated = c.term
		}
	case c.term != nil:
		cs.ContainerID = c.term.ContainerID
		cs.State.Terminated = c.term
		if c.prevTerm != nil {
			cs.LastTerminationState.Terminated = c.prevTerm
		}
		cs.Ready, cs.Started = false, new(bool)
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	return cs
}

// --- volumes ------------------------------------------------------------------

// prepareVolumes makes a directory for each volume: emptyDir under the
// pod's directory, a PVC at its PersistentVolume's hostPath (or local
// path), hostPath as is, configMap and secret volumes written out as
// files. Other kinds get an empty directory.
func (w *podWorker) prepareVolumes(p *corev1.Pod) error {
	owner, group := -1, -1
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		bin, _ := w.a.lookupImage(c.Image)
		if uid, gid, err := runAs(p, &c, bin); err == nil && uid > 0 {
			owner, group = uid, gid
		}
	}
	if sc := p.Spec.SecurityContext; sc != nil && sc.FSGroup != nil && owner < 0 {
		group = int(*sc.FSGroup)
	}
	for _, v := range p.Spec.Volumes {
		dir, err := w.volumeDir(p, v)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if v.HostPath == nil && (owner >= 0 || group >= 0) {
			os.Chown(dir, owner, group)
		}
		switch {
		case v.ConfigMap != nil:
			cm, err := w.a.Client.CoreV1().ConfigMaps(p.Namespace).Get(w.ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
					continue
				}
				return fmt.Errorf("volume %s: configmap %s: %w", v.Name, v.ConfigMap.Name, err)
			}
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			if err := writeKeys(dir, data, v.ConfigMap.Items); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Secret != nil:
			s, err := w.a.Client.CoreV1().Secrets(p.Namespace).Get(w.ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional {
					continue
				}
				return fmt.Errorf("volume %s: secret %s: %w", v.Name, v.Secret.SecretName, err)
			}
			if err := writeKeys(dir, s.Data, v.Secret.Items); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
	}
	return nil
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		path := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (w *podWorker) volumeDir(p *corev1.Pod, v corev1.Volume) (string, error) {
	switch {
	case v.HostPath != nil:
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		claim := v.PersistentVolumeClaim.ClaimName
		pvc, err := w.a.Client.CoreV1().PersistentVolumeClaims(p.Namespace).Get(w.ctx, claim, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: claim %s: %w", v.Name, claim, err)
		}
		if pvc.Spec.VolumeName == "" {
			return "", fmt.Errorf("volume %s: claim %s is not bound yet", v.Name, claim)
		}
		pv, err := w.a.Client.CoreV1().PersistentVolumes().Get(w.ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: %w", v.Name, err)
		}
		switch {
		case pv.Spec.HostPath != nil:
			return pv.Spec.HostPath.Path, nil
		case pv.Spec.Local != nil:
			return pv.Spec.Local.Path, nil
		}
		return "", fmt.Errorf("volume %s: PersistentVolume %s is neither hostPath nor local", v.Name, pv.Name)
	}
	return filepath.Join(w.dir, "volumes", v.Name), nil
}

// mounts maps a container's mount paths to host directories, longest
// first.
func (w *podWorker) mounts(p *corev1.Pod, c *corev1.Container) ([]mountMap, error) {
	var out []mountMap
	for _, m := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == m.Name {
				vol = &p.Spec.Volumes[i]
			}
		}
		if vol == nil {
			// StatefulSet claims appear as volumes named after the template.
			return nil, fmt.Errorf("volumeMount %s: no such volume", m.Name)
		}
		dir, err := w.volumeDir(p, *vol)
		if err != nil {
			return nil, err
		}
		if m.SubPath != "" {
			dir = filepath.Join(dir, filepath.Clean("/"+m.SubPath))
			os.MkdirAll(dir, 0o755)
		}
		out = append(out, mountMap{container: filepath.Clean(m.MountPath), host: dir})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i].container) > len(out[j].container) })
	return out, nil
}
