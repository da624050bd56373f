package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/voiceassist/autoscaling/internal/testenv"
)

// CreateSecret on a fake clientset (the API server only stores what we
// send here): each Secret's derived keys match the random ones.
func TestCreateSecrets(t *testing.T) {
	ctx := context.Background()
	c := &Client{Kube: fake.NewSimpleClientset()}
	for _, ref := range secretRefs(envObjects(t, "prod")) {
		if err := c.CreateSecret(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) map[string][]byte {
		s, err := c.Kube.CoreV1().Secrets(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Labels[managedByLabel] != "vactl" {
			t.Errorf("Secret %s: not labelled as vactl's (teardown --delete-data would keep it)", name)
		}
		return s.Data
	}
	redisData := get(RedisSecret)
	if pw := string(redisData["password"]); len(pw) < 32 || string(redisData["users.acl"]) != RedisACL(pw) {
		t.Errorf("voiceassist-redis: password %q, users.acl %q", pw, redisData["users.acl"])
	}
	key, found, err := c.LoadtestKey(ctx, Namespace)
	if err != nil || !found || len(key) < 32 {
		t.Fatalf("LoadtestKey: %q %v %v", key, found, err)
	}
	if got := string(get(APIKeysSecret)["api-keys"]); got != "vactl-loadtest:"+sha256Hex(key)+"\n" {
		t.Errorf("voiceassist-api-keys: %q does not hold the load test key's hash", got)
	}
	if pg := get("voiceassist-postgres-credentials")["password"]; len(pg) < 32 {
		t.Errorf("PostgreSQL password %q", pg)
	}
	// A second setup of the API keys (their Secret deleted by hand)
	// replaces the load test key, which the new hashes would not match.
	if err := c.Kube.CoreV1().Secrets(Namespace).Delete(ctx, APIKeysSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSecret(ctx, SecretRef{Namespace: Namespace, Name: APIKeysSecret}); err != nil {
		t.Fatal(err)
	}
	key2, _, err := c.LoadtestKey(ctx, Namespace)
	if err != nil || key2 == key || string(get(APIKeysSecret)["api-keys"]) != APIKeysLine(LoadtestClient, key2) {
		t.Errorf("after re-creating the API keys: key %q (before %q), err %v", key2, key, err)
	}
	if _, found, err := (&Client{Kube: fake.NewSimpleClientset()}).LoadtestKey(ctx, Namespace); found || err != nil {
		t.Errorf("no Secret: found %v, err %v", found, err)
	}
}

// The users.acl that setup writes is one real Redis loads, and then
// requires the password: go-redis with it works, without it or with
// another it is refused.
func TestRedisACLOnRealRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not on PATH: run scripts/setup-debian.sh")
	}
	secrets, err := newSecrets(SecretRef{Namespace: Namespace, Name: RedisSecret})
	if err != nil {
		t.Fatal(err)
	}
	data := secrets[0].Data
	dir := t.TempDir()
	acl := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(acl, data["users.acl"], 0o440); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--aclfile", acl, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Errorf("redis-server: %v\n%s", err, log.String())
		}
	})
	if err := testenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("redis-server with the ACL file: %v\n%s", err, log.String())
	}
	ping := func(password string) error {
		rc := redis.NewClient(&redis.Options{Addr: addr, Password: password})
		defer rc.Close()
		return rc.Ping(context.Background()).Err()
	}
	if err := ping(string(data["password"])); err != nil {
		t.Errorf("with the Secret's password: %v", err)
	}
	for _, pw := range []string{"", "not-the-password"} {
		err := ping(pw)
		if err == nil || !(strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS")) {
			t.Errorf("password %q: want NOAUTH or WRONGPASS, got %v", pw, err)
		}
	}
}
