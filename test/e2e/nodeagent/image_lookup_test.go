//go:build e2e

package nodeagent

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestImageContainer runs a container of an OCI image through what the
// agent does at a container start (containerBinary, buildEnv, buildArgv,
// listenEnv, runAs) and its status (imageID): the image's entrypoint and
// Cmd, its env under the pod's, its user unless the pod sets runAsUser,
// the pod-IP rewrite of the listen flag kept.
func TestImageContainer(t *testing.T) {
	b, err := ImageBinary(writeLayout(t, testImage(t, nil)), filepath.Join(t.TempDir(), "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	b.ListenFlags, b.ListenEnv = []string{"listen"}, []string{"LISTEN_ADDR"}
	a := fakeAgent(t)
	a.Images = map[string]Binary{"example.test/app": b}
	entry := filepath.Join(b.Image.Rootfs, "usr/local/bin/app")

	start := func(pod *corev1.Pod, c *corev1.Container) (argv, env []string, uid, gid int) {
		t.Helper()
		bin, ok := a.containerBinary(c)
		if !ok {
			t.Fatalf("no Binary for %s", c.Image)
		}
		ec := &envContext{a: a, pod: pod, podIP: "10.244.0.9"}
		vars, env, err := ec.buildEnv(context.Background(), c, bin)
		if err != nil {
			t.Fatal(err)
		}
		if argv, err = buildArgv(ec, c, bin, vars); err != nil {
			t.Fatal(err)
		}
		env = listenEnv(env, c, bin, argv, "10.244.0.9")
		if uid, gid, err = runAs(pod, c, bin); err != nil {
			t.Fatal(err)
		}
		return argv, env, uid, gid
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}

	// No command, no args, no runAsUser: all the image's.
	c := &corev1.Container{Name: "app", Image: "example.test/app:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8000}}}
	argv, env, uid, gid := start(pod, c)
	if want := []string{entry, "--default"}; !reflect.DeepEqual(argv, want) {
		t.Errorf("argv %q, want %q", argv, want)
	}
	for _, kv := range []string{"GREETING=from-image", "PATH=/usr/local/bin:/usr/bin:/bin", "LISTEN_ADDR=10.244.0.9:8000"} {
		if !contains(env, kv) {
			t.Errorf("env %q lacks %s", env, kv)
		}
	}
	if uid != 65532 || gid != 65532 {
		t.Errorf("user %d:%d, want the image's 65532:65532", uid, gid)
	}

	// The pod's args replace Cmd, its env overrides the image's, its
	// runAsUser the image's user.
	c.Args = []string{"--listen=:9000"}
	c.Env = []corev1.EnvVar{{Name: "GREETING", Value: "from-pod"}}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(4321))}
	argv, env, uid, gid = start(pod, c)
	if want := []string{entry, "--listen=10.244.0.9:9000"}; !reflect.DeepEqual(argv, want) {
		t.Errorf("argv %q, want %q", argv, want)
	}
	if !contains(env, "GREETING=from-pod") || contains(env, "GREETING=from-image") {
		t.Errorf("env %q: want the pod's GREETING only", env)
	}
	if uid != 4321 || gid != 4321 {
		t.Errorf("user %d:%d, want the pod's 4321:4321", uid, gid)
	}

	// A command the image does not have is not the host's.
	c.Command = []string{"/bin/sh", "-c", "true"}
	argv, _, _, _ = start(pod, c)
	if !strings.HasPrefix(argv[0], b.Image.Rootfs+"/") {
		t.Errorf("argv[0] %q is outside the image's rootfs", argv[0])
	}

	if got, want := a.imageID("example.test/app:1.0"), "example.test/app@"+b.Image.Digest; got != want {
		t.Errorf("imageID = %q, want %q", got, want)
	}
	if got := a.imageID("redis:7"); got != "nodeagent://redis:7" {
		t.Errorf("imageID of a local program = %q", got)
	}
}
