package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLogger logs to the test's output (not internal/testenv, which
// imports this package).
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func TestNewKeyAndLookup(t *testing.T) {
	key, line, err := NewKey("clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || len(key) != len(KeyPrefix)+43 || strings.Contains(line, key) {
		t.Fatalf("key %q, line %q", key, line)
	}
	key2, line2, err := NewKey("clinic-a") // a second key of the same client (rotation)
	if err != nil {
		t.Fatal(err)
	}
	key3, line3, err := NewKey("clinic-b")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeys("keys", []byte("# comment\n\n"+line+"\n  "+line2+"  \n"+line3+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 3 || k.Clients() != 2 {
		t.Fatalf("Len %d Clients %d, want 3 and 2", k.Len(), k.Clients())
	}
	for key, want := range map[string]string{key: "clinic-a", key2: "clinic-a", key3: "clinic-b"} {
		if got, ok := k.Lookup(key); !ok || got != want {
			t.Errorf("Lookup(%s) = %q %v, want %q", key, got, ok, want)
		}
	}
	for _, bad := range []string{"", key + "x", key[:len(key)-1], HashKey(key), strings.ToUpper(key)} {
		if got, ok := k.Lookup(bad); ok {
			t.Errorf("Lookup(%q) accepted as %q", bad, got)
		}
	}
	if HashKey("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal("HashKey is not hex sha256") // the contract's format: `printf %s KEY | sha256sum`
	}
}

func TestParseKeysErrorsNameFileLineAndField(t *testing.T) {
	h := HashKey("k")
	cases := []struct{ content, want string }{
		{"nocolon", "f:1: want <client-id>:<sha256"},
		{"\n\n:" + h, "f:3: client id: client id is empty"},
		{"a b:" + h, "f:1: client id"},
		{"anonymous:" + h, `reserved`},
		{"a:1234", `f:1: hash of client "a": want 64 lowercase hex`},
		{"a:" + strings.ToUpper(h), `f:1: hash of client "a"`},
		{"a:" + strings.Repeat("zz", 32), `f:1: hash of client "a"`},
		{"a:" + h + "\nb:" + h, `f:2: hash of client "b" repeats line 1`},
	}
	for _, c := range cases {
		_, err := ParseKeys("f", []byte(c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.content, err, c.want)
		}
	}
	if k, err := ParseKeys("f", []byte("# none yet\n")); err != nil || k.Len() != 0 {
		t.Errorf("a file of comments: %v %v", k, err)
	}
}

// secretVolume lays out dir the way the kubelet writes a Secret volume:
// the file is a link into ..data, itself a link to a timestamped directory.
// swap replaces the content the kubelet's way: a new directory, a new
// ..data_tmp link renamed over ..data (one atomic rename).
type secretVolume struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretVolume(t *testing.T, content string) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.write(content)
	if err := os.Symlink(filepath.Join("..data", "api-keys"), filepath.Join(v.dir, "api-keys")); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *secretVolume) path() string { return filepath.Join(v.dir, "api-keys") }

func (v *secretVolume) write(content string) {
	v.n++
	ts := fmt.Sprintf("..2026_12_02_03_00_%02d.%d", v.n, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, ts, "api-keys"), []byte(content), 0o644); err != nil {
		v.t.Fatal(err)
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
}

// waitFor polls cond (the effect of a reload) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeyFileRotation: a key is rotated the way a Secret update does it,
// and the watching KeyFile takes the new keys without a restart (on the
// inotify event: the poll is set to an hour so it cannot be what worked);
// a broken update keeps the old keys in force.
func TestKeyFileRotation(t *testing.T) {
	oldKey, oldLine, err := NewKey("c1")
	if err != nil {
		t.Fatal(err)
	}
	newKey, newLine, err := NewKey("c1")
	if err != nil {
		t.Fatal(err)
	}
	vol := newSecretVolume(t, oldLine+"\n")
	f, err := LoadKeyFile(vol.path(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.PollInterval = time.Hour
	reloads := make(chan error, 100)
	f.OnReload = func(_ *Keys, err error) { reloads <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	a := &Authenticator{Keys: f}
	client := func(key string) string {
		r := httptest.NewRequest("GET", "/v1/jobs/x", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		c, _ := a.Authenticate(r)
		return c
	}
	if client(oldKey) != "c1" || client(newKey) != "" {
		t.Fatal("before rotation: old key must work, new must not")
	}

	// Step 1 of a rotation: both keys.
	vol.write(oldLine + "\n" + newLine + "\n")
	waitFor(t, "the new key is accepted", func() bool { return client(newKey) == "c1" })
	if client(oldKey) != "c1" {
		t.Fatal("old key refused while both are in the file")
	}
	// Step 2: the old key removed.
	vol.write(newLine + "\n")
	waitFor(t, "the old key is refused", func() bool { return client(oldKey) == "" })

	// A broken update: an error is reported, the keys in force stay.
	for len(reloads) > 0 {
		<-reloads
	}
	vol.write("c1:not-a-hash\n")
	select {
	case err := <-reloads:
		for err == nil { // events of the earlier swap may still arrive
			err = <-reloads
		}
		if !strings.Contains(err.Error(), "api-keys:1") {
			t.Errorf("reload error %v does not name the file and line", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload attempt for the broken update")
	}
	if client(newKey) != "c1" {
		t.Fatal("a broken update locked the client out")
	}
}

// TestKeyFileReloadByPoll: Reload (what the poll calls) takes a changed
// file, leaves an unchanged one alone, and a missing file names the flag.
func TestKeyFileReloadByPoll(t *testing.T) {
	key, line, err := NewKey("c2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "keys")
	if err := os.WriteFile(p, []byte("# empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadKeyFile(p, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Keys().Lookup(key); ok {
		t.Fatal("reloaded without being asked")
	}
	changed, err := f.Reload()
	if !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	if c, ok := f.Keys().Lookup(key); !ok || c != "c2" {
		t.Fatal("Reload did not take the new key")
	}
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged file = %v, %v", changed, err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing"), nil); err == nil || !strings.Contains(err.Error(), "--api-keys-file") {
		t.Fatalf("missing file: %v", err)
	}
}
