//go:build e2e

package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/internal/ociimage"
)

// TestAgentRunsImages shows that pods of our images run the images `make
// images` builds, not some other build: StartForCluster's images.txt
// digest is each container's imageID; the running process is the binary
// unpacked from the image's layer, byte for byte; it runs as the image's
// user and with the image's PATH unless the pod says otherwise; and a
// command the image lacks fails to start although the host has it.
// A node of its own (va-node-2): nothing of another scenario runs here.
func TestAgentRunsImages(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const node, ns, repo = "va-node-2", "images-e2e", "voiceassist/queue-exporter"
	t0 := time.Now()
	agent, err := StartForCluster(ctx, c, root, t.Logf, func(a *Agent) {
		a.NodeName, a.NodeIP, a.RestartBackoff = node, "10.243.0.3", time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		agent.Stop()
		cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		cs.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{})
	}()
	t.Logf("agent (images built) started in %.1fs", time.Since(t0).Seconds())

	// What `make images` lists: "reference digest" per image.
	list, err := os.ReadFile(filepath.Join(agent.binDir, "images", "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		ref, digest, _ := strings.Cut(line, " ")
		r, _, _ := strings.Cut(ref, ":")
		digests[r] = digest
	}
	for image := range voiceAssistImages {
		b := agent.Images[image]
		if b.Image == nil || digests[image] == "" || b.Image.Digest != digests[image] {
			t.Errorf("%s: agent runs %+v, images.txt lists %q", image, b.Image, digests[image])
		}
	}
	img, _, err := ociimage.ReadLayout(filepath.Join(agent.binDir, "images", "queue-exporter"))
	if err != nil {
		t.Fatal(err)
	}
	_, inImage, err := ociimage.ReadFile(img, "/usr/local/bin/queue-exporter")
	if err != nil {
		t.Fatal(err)
	}
	unpacked := agent.Images[repo].Path

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The ServiceAccount admission needs the namespace's default account.
	waitFor(ctx, t, "ServiceAccount "+ns+"/default", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	pod := func(name string, sc *corev1.PodSecurityContext, command, args []string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{
				NodeName:        node,
				SecurityContext: sc,
				Containers: []corev1.Container{{
					Name: "exporter", Image: repo + ":0.1.0", Command: command, Args: args,
					Ports: []corev1.ContainerPort{{ContainerPort: 9121}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(9121)}},
						PeriodSeconds: 1},
					Resources: smallResources(),
				}},
				TerminationGracePeriodSeconds: ptr.To(int64(1)),
			},
		}
	}
	for _, p := range []*corev1.Pod{
		// No securityContext, command or args: all the image's.
		pod("image-defaults", nil, nil, nil),
		pod("run-as", &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(4321))}, []string{"/usr/local/bin/queue-exporter"}, []string{"--queues=a,b"}),
		// The host has /bin/sh; the image (static binary, no shell) does not.
		pod("no-shell", nil, []string{"/bin/sh", "-c", "sleep 600"}, nil),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"image-defaults", "run-as"} {
		waitFor(ctx, t, "pod "+name+" Ready", func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && podCond(p, corev1.PodReady), err
		})
	}
	pids := agent.Pids()
	for _, c := range []struct {
		pod      string
		uid      string
		argv     []string
		imageEnv bool
	}{
		{"image-defaults", "65532", []string{unpacked}, true},
		{"run-as", "4321", []string{unpacked, "--queues=a,b"}, true},
	} {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, c.pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if id, want := p.Status.ContainerStatuses[0].ImageID, repo+"@"+digests[repo]; id != want {
			t.Errorf("%s: imageID %q, want %q (images.txt)", c.pod, id, want)
		}
		pid := pids[ns+"/"+c.pod]["exporter"]
		if pid == 0 {
			t.Fatalf("%s: no process (%v)", c.pod, pids)
		}
		proc := func(f string) string { return fmt.Sprintf("/proc/%d/%s", pid, f) }
		exe, err := os.Readlink(proc("exe"))
		if err != nil || exe != unpacked || !strings.HasPrefix(exe, filepath.Join(agent.binDir, "rootfs")+"/") {
			t.Errorf("%s: process runs %q (%v), want the unpacked %s", c.pod, exe, err, unpacked)
		}
		running, err := os.ReadFile(proc("exe"))
		if err != nil || sha256.Sum256(running) != sha256.Sum256(inImage) {
			t.Errorf("%s: the running binary is not the image's /usr/local/bin/queue-exporter (%v)", c.pod, err)
		}
		cmdline, err := os.ReadFile(proc("cmdline"))
		if err != nil {
			t.Fatalf("%s: %v", c.pod, err)
		}
		if argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"); !reflect.DeepEqual(argv, c.argv) {
			t.Errorf("%s: argv %q, want %q", c.pod, argv, c.argv)
		}
		if uid := procStatus(t, proc("status"), "Uid"); uid != c.uid {
			t.Errorf("%s: runs as uid %s, want %s", c.pod, uid, c.uid)
		}
		environ, err := os.ReadFile(proc("environ"))
		if err != nil {
			t.Fatalf("%s: %v", c.pod, err)
		}
		if !bytes.Contains(environ, []byte("\x00PATH=/usr/local/bin:/usr/bin:/bin\x00")) && !bytes.HasPrefix(environ, []byte("PATH=/usr/local/bin:/usr/bin:/bin\x00")) {
			t.Errorf("%s: environment lacks the image's PATH: %q", c.pod, environ)
		}
	}
	waitFor(ctx, t, "pod no-shell failing to start /bin/sh from the image", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "no-shell", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "RunContainerError" &&
			strings.Contains(w.Message, filepath.Join(agent.Images[repo].Image.Rootfs, "bin/sh")), nil
	})
	if _, running := agent.Pids()[ns+"/no-shell"]; running {
		t.Errorf("no-shell runs a process: %v", agent.Pids())
	}
}

// procStatus is the first field of a /proc/<pid>/status line (Uid: real uid).
func procStatus(t *testing.T, file, key string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == key {
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
		}
	}
	t.Fatalf("%s: no %s line", file, key)
	return ""
}
