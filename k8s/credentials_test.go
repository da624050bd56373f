package k8s_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// TestCredentials: in every environment, every Redis client reads
// REDIS_PASSWORD from the Secret voiceassist-redis and Redis loads its ACL
// file from the same Secret (no password in any argument); the databases'
// clients build DATABASE_URL with a configurable sslmode; the gateway
// mounts its API keys where --api-keys-file expects them.
func TestCredentials(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, name := range []string{"voiceassist-server", "voiceassist-worker", "queue-exporter"} {
			w, ok := set.Workload("Deployment", ns, name)
			if !ok {
				t.Fatalf("no Deployment %s", name)
			}
			c := w.Template.Spec.Containers[0]
			if ref := secretEnv(c, "REDIS_PASSWORD"); ref == nil || !strings.HasPrefix(ref.Name, "voiceassist-redis") || ref.Key != "password" {
				t.Errorf("%s: REDIS_PASSWORD is not from Secret voiceassist-redis key password (%+v)", name, ref)
			}
			if name == "queue-exporter" {
				continue
			}
			mode := envValue(c, "POSTGRES_SSLMODE")
			url := envValue(c, "DATABASE_URL")
			if !slices.Contains([]string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, mode) ||
				!strings.Contains(url, "sslmode=$(POSTGRES_SSLMODE)") || envIndex(c, "POSTGRES_SSLMODE") > envIndex(c, "DATABASE_URL") {
				t.Errorf("%s: DATABASE_URL %q with POSTGRES_SSLMODE %q: want sslmode from POSTGRES_SSLMODE, defined before it", name, url, mode)
			}
		}

		redis, ok := set.Workload("StatefulSet", ns, "voiceassist-redis")
		if !ok {
			t.Fatal("no StatefulSet voiceassist-redis")
		}
		c := redis.Template.Spec.Containers[0]
		for _, a := range append(slices.Clone(c.Command), c.Args...) {
			if strings.Contains(strings.ToLower(a), "requirepass") || strings.Contains(a, "$(") {
				t.Errorf("redis: argument %q: the password must not be in the arguments", a)
			}
		}
		i := slices.Index(c.Args, "--aclfile")
		if i < 0 || i+1 >= len(c.Args) {
			t.Fatalf("redis: no --aclfile in %q", c.Args)
		}
		if secret, key := mountedSecretKey(redis.Template.Spec, c, c.Args[i+1]); !strings.HasPrefix(secret, "voiceassist-redis") || key != "users.acl" {
			t.Errorf("redis: --aclfile %s is not key users.acl of Secret voiceassist-redis (got %q %q)", c.Args[i+1], secret, key)
		}

		gw, _ := set.Workload("Deployment", ns, "voiceassist-server")
		const keysFile = "/etc/voiceassist/api-keys/api-keys"
		if secret, key := mountedSecretKey(gw.Template.Spec, gw.Template.Spec.Containers[0], keysFile); !strings.HasPrefix(secret, "voiceassist-api-keys") || key != "api-keys" {
			t.Errorf("gateway: %s is not key api-keys of Secret voiceassist-api-keys (got %q %q)", keysFile, secret, key)
		}
	})
}

// TestDevSecrets: dev's generated Secrets agree with one another: Redis'
// ACL holds the SHA-256 of the clients' password, the gateway's API keys
// the SHA-256 of the load test's key; and the load test key's Secret
// keeps its name (no hash suffix) so that vactl loadtest finds it.
func TestDevSecrets(t *testing.T) {
	m, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rm, err := m.Env("dev")
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(rm)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]map[string]string{}
	for _, o := range set.Objects {
		if s, ok := o.Obj.(*corev1.Secret); ok {
			name := s.Name
			if i := strings.LastIndexByte(name, '-'); i > 0 && name != "voiceassist-loadtest-key" {
				name = name[:i] // kustomize's hash suffix
			}
			data[name] = map[string]string{}
			for k, v := range s.Data {
				data[name][k] = string(v)
			}
			for k, v := range s.StringData {
				data[name][k] = v
			}
		}
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	redisData, keys, lt := data["voiceassist-redis"], data["voiceassist-api-keys"], data["voiceassist-loadtest-key"]
	if redisData == nil || keys == nil || lt == nil {
		t.Fatalf("dev Secrets: %v", data)
	}
	if want := "user default on #" + sum(redisData["password"]) + " ~* &* +@all"; strings.TrimSpace(redisData["users.acl"]) != want {
		t.Errorf("users.acl %q, want %q", redisData["users.acl"], want)
	}
	if want := "vactl-loadtest:" + sum(lt["api-key"]); strings.TrimSpace(keys["api-keys"]) != want {
		t.Errorf("api-keys %q, want %q", keys["api-keys"], want)
	}
}

func secretEnv(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func envValue(c corev1.Container, name string) string {
	if i := envIndex(c, name); i >= 0 {
		return c.Env[i].Value
	}
	return ""
}

func envIndex(c corev1.Container, name string) int {
	return slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// mountedSecretKey returns the Secret and key that file is in the
// container, "" when no Secret volume holds it.
func mountedSecretKey(spec corev1.PodSpec, c corev1.Container, file string) (secret, key string) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, rel
			}
			for _, it := range v.Secret.Items {
				if path.Clean(it.Path) == rel {
					return v.Secret.SecretName, it.Key
				}
			}
		}
	}
	return "", ""
}

// TestSSLModePatch: the patches k8s/performance/README.md documents
// ("PostgreSQL TLS") set POSTGRES_SSLMODE=require in both Deployments,
// still before the DATABASE_URL that expands it, and add no variable.
func TestSSLModePatch(t *testing.T) {
	abs, err := filepath.Abs("performance/overlays/prod")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prod, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(dep, ctr string) string {
		return `  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: ` + dep + `, namespace: voiceassist}
      spec:
        template:
          spec:
            containers:
              - name: ` + ctr + `
                env: [{name: POSTGRES_SSLMODE, value: require}]
`
	}
	kust := "resources:\n  - " + prod + "\npatches:\n" + patch("voiceassist-server", "server") + patch("voiceassist-worker", "worker")
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := render.Build(mustDisk(t).FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatal(err)
	}
	_, orig := build(t, "prod")
	for _, name := range []string{"voiceassist-server", "voiceassist-worker"} {
		w, _ := set.Workload("Deployment", ns, name)
		o, _ := orig.Workload("Deployment", ns, name)
		c, oc := w.Template.Spec.Containers[0], o.Template.Spec.Containers[0]
		if got := envValue(c, "POSTGRES_SSLMODE"); got != "require" {
			t.Errorf("%s: POSTGRES_SSLMODE %q after the patch, want require", name, got)
		}
		// A strategic-merge patch may reorder env; $(POSTGRES_SSLMODE)
		// expands only if it still comes before DATABASE_URL.
		if len(c.Env) != len(oc.Env) || envIndex(c, "POSTGRES_SSLMODE") > envIndex(c, "DATABASE_URL") {
			t.Errorf("%s: after the patch %d variables (was %d), POSTGRES_SSLMODE at %d, DATABASE_URL at %d",
				name, len(c.Env), len(oc.Env), envIndex(c, "POSTGRES_SSLMODE"), envIndex(c, "DATABASE_URL"))
		}
	}
}
