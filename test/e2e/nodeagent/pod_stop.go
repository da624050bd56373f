//go:build e2e

package nodeagent

import (
	"context"
	"sync"
	"time"
)

// Stopping a pod: its containers' graceful termination and, for a
// deletion, the pod's removal from the API.

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
			if c.proc != nil && c.proc.Running() {
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
				p.Stop(grace)
			}()
		}
		wg.Wait()
		w.wg.Wait()
		if w.a.cgroups != nil {
			w.a.cgroups.removePod(string(w.uid)) // the runs' cgroups went with their processes
		}
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
