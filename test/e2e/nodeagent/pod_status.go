//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod's status as the kubelet reports it: phase, conditions and
// container states, written back to the API when they change.

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
		case c.proc != nil && c.proc.Running():
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
	running := c.proc != nil && c.proc.Running()
	switch {
	case c.waiting != "" && !running:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting, Message: c.waitingMsg}
		if c.term != nil {
			cs.LastTerminationState.Terminated = c.term
		}
	case running:
		cs.ContainerID = containerID(c.proc)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.proc.StartedAt())}
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
