//go:build e2e

package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	cgroup   *ctrCgroup // the current run's (nil with Agent.NoCgroups)
	runs     int        // processes started so far
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
		case <-p.Done():
		case <-w.ctx.Done():
			<-p.Done()
			return false
		}
		w.finished(c, p)
		if p.ExitCode() == 0 {
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
		<-p.Done()
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
			if p.ExitCode() == 0 {
				w.setFinal(c)
				return
			}
		}
		if p.FinishedAt().Sub(p.StartedAt()) > 10*time.Minute {
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

// finished records a process's exit. Killed by the kernel's OOM killer
// (its memory cgroup counted an OOM kill during the run), the reason is
// OOMKilled, as the kubelet reports it; the run's cgroup is removed.
func (w *podWorker) finished(c *ctr, p *process) {
	w.mu.Lock()
	cg := c.cgroup
	if c.proc == p {
		c.cgroup = nil
	}
	w.mu.Unlock()
	oom := false
	if cg != nil {
		oom = cg.oomKills() > 0
		if err := cg.destroy(); err != nil {
			w.logf("container %s: %v", c.spec.Name, err)
		}
	}
	reason := "Completed"
	switch {
	case oom:
		reason = "OOMKilled"
	case p.ExitCode() != 0:
		reason = "Error"
	}
	w.mu.Lock()
	c.prevTerm = c.term
	c.term = &corev1.ContainerStateTerminated{
		ExitCode:    p.ExitCode(),
		Signal:      int32(p.Signal()),
		Reason:      reason,
		StartedAt:   metav1.NewTime(p.StartedAt()),
		FinishedAt:  metav1.NewTime(p.FinishedAt()),
		ContainerID: containerID(p),
	}
	c.ready, c.started = false, false
	w.mu.Unlock()
	if oom {
		w.logf("container %s was OOMKilled (exit %d): its memory cgroup %s hit the limit", c.spec.Name, p.ExitCode(), cg.rel)
	} else {
		w.logf("container %s exited with %d", c.spec.Name, p.ExitCode())
	}
	w.markDirty()
}

func containerID(p *process) string { return "nodeagent://" + strconv.Itoa(p.Pid()) }
